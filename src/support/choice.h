// A word a setting may be set to, and the value it stands for: the lists of
// such words (policy/pressure.h, policy/tunables.h) are the only place each
// word is spelled, for parsing and printing alike.
#pragma once

#include <string_view>

namespace vmreclaim::support {

template <class T>
struct Choice {
  std::string_view text;
  T value;
};

}  // namespace vmreclaim::support
