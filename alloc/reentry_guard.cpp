#include "reentry_guard.h"

namespace vmreclaim::alloc {

__thread bool t_in_layer __attribute__((tls_model("initial-exec"))) = false;

}  // namespace vmreclaim::alloc
