// A value or an error, without exceptions or allocation (C++20 has no
// std::expected). Reading the value of an error aborts: check first.
#pragma once

#include <cstdlib>
#include <system_error>
#include <utility>

namespace vmreclaim {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(std::error_code error) noexcept : error_(error) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }

  T& value() & noexcept { check(); return value_; }
  const T& value() const& noexcept { check(); return value_; }
  T&& value() && noexcept { check(); return std::move(value_); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }
  T value_or(T other) const noexcept { return has_value() ? value_ : other; }

 private:
  void check() const noexcept {
    if (error_) std::abort();
  }
  T value_{};
  std::error_code error_{};
};

}  // namespace vmreclaim
