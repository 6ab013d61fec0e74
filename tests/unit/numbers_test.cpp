// The one parser of numbers and byte counts (support/numbers.h), used by the
// library's tunables and the allocation layer's settings alike.
#include "support/numbers.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vmreclaim::test {
namespace {

using vmreclaim::support::number_error_text;
using vmreclaim::support::NumberError;
using vmreclaim::support::parse_byte_size;
using vmreclaim::support::parse_bytes;
using vmreclaim::support::parse_number;
using vmreclaim::support::parse_u64;

TEST(Numbers, PlainNumbers) {
  EXPECT_EQ(parse_u64("0"), 0u);
  EXPECT_EQ(parse_u64("007"), 7u);
  EXPECT_EQ(parse_u64("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "18446744073709551616", "99999999999999999999", "+1", "-0", "1 ", " 1", "1_000", "0x1"}) {
    EXPECT_EQ(parse_u64(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(Numbers, ByteSuffixes) {
  EXPECT_EQ(parse_bytes("0"), 0u);
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  EXPECT_EQ(parse_bytes("4K"), 4096u);
  EXPECT_EQ(parse_bytes("4k"), 4096u);
  EXPECT_EQ(parse_bytes("3M"), 3u << 20);
  EXPECT_EQ(parse_bytes("3m"), 3u << 20);
  EXPECT_EQ(parse_bytes("2G"), 2ull << 30);
  EXPECT_EQ(parse_bytes("2g"), 2ull << 30);
  EXPECT_EQ(parse_bytes("0K"), 0u);
  EXPECT_EQ(parse_bytes("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "K", "1T", "1KB", "1.5M", "-1K", " 1K", "1 K", "K1", "1KK", "0x10", "12Q"}) {
    EXPECT_EQ(parse_bytes(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(Numbers, OverflowIsRefusedAtEachSuffix) {
  // The largest count each suffix allows, and one more.
  EXPECT_EQ(parse_bytes("17179869183G"), 17179869183ull << 30);
  EXPECT_EQ(parse_byte_size("17179869184G").error, NumberError::too_large);  // 2^64
  EXPECT_EQ(parse_bytes("17592186044415M"), 17592186044415ull << 20);
  EXPECT_EQ(parse_byte_size("17592186044416M").error, NumberError::too_large);
  EXPECT_EQ(parse_bytes("18014398509481983K"), 18014398509481983ull << 10);
  EXPECT_EQ(parse_byte_size("18014398509481984K").error, NumberError::too_large);
  EXPECT_EQ(parse_byte_size("18446744073709551616").error, NumberError::too_large);
  EXPECT_EQ(parse_byte_size("99999999999999999999999999G").error, NumberError::too_large);
}

TEST(Numbers, EachRefusalSaysWhy) {
  EXPECT_EQ(parse_byte_size("").error, NumberError::empty);
  EXPECT_EQ(parse_byte_size("K").error, NumberError::not_a_number);
  EXPECT_EQ(parse_byte_size("-1").error, NumberError::not_a_number);
  EXPECT_EQ(parse_byte_size("1.5M").error, NumberError::not_a_number);
  EXPECT_EQ(parse_byte_size("12Q").error, NumberError::bad_suffix);
  EXPECT_EQ(parse_byte_size("1KB").error, NumberError::bad_suffix);
  EXPECT_EQ(parse_byte_size("1T").error, NumberError::bad_suffix);
  EXPECT_EQ(parse_number("1K").error, NumberError::not_a_number);  // plain numbers take no suffix
  for (NumberError e :
       {NumberError::empty, NumberError::not_a_number, NumberError::bad_suffix, NumberError::too_large}) {
    EXPECT_GT(std::strlen(number_error_text(e)), 4u);
    EXPECT_STRNE(number_error_text(e), number_error_text(NumberError::none));
  }
}

TEST(Numbers, GarbageNeverParses) {
  // Every byte that is not a digit or a suffix, in every position of a
  // three-character value, is refused.
  for (int c = 0; c < 256; c++) {
    const char ch = static_cast<char>(c);
    if ((ch >= '0' && ch <= '9') || std::strchr("kKmMgG", ch) != nullptr) continue;
    for (int pos = 0; pos < 3; pos++) {
      char text[3] = {'1', '2', '3'};
      text[pos] = ch;
      EXPECT_FALSE(parse_byte_size(std::string_view(text, 3)).ok()) << "byte " << c << " at " << pos;
      EXPECT_FALSE(parse_number(std::string_view(text, 3)).ok()) << "byte " << c << " at " << pos;
    }
  }
}

// Usable where the value is known at compile time.
static_assert(parse_byte_size("128K").value == 128 * 1024);
static_assert(parse_byte_size("1G").value == 1ull << 30);

}  // namespace
}  // namespace vmreclaim::test
