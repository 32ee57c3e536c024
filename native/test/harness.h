// Tiny self-contained test harness: TEST registers a case, CHECK/CHECK_EQ record a failure
// with file:line and keep going. The runner prints one line per case and ends with exactly
// one summary line "N passed, N failed" (N counts test cases), exiting non-zero on failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace vt {

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& Registry() {
  static std::vector<TestCase> r;
  return r;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { Registry().push_back({name, fn}); }
};

// Failures of the case being run. Only the test's main thread may call CHECK; worker
// threads record problems in their own variables and the test checks them after join.
inline int& CurrentFailures() {
  static int n = 0;
  return n;
}

inline void ReportFailure(const char* file, int line, const std::string& what) {
  int& n = CurrentFailures();
  if (++n <= 20) std::printf("    %s:%d: CHECK failed: %s\n", file, line, what.c_str());
  if (n == 21) std::printf("    (further failures of this case not shown)\n");
}

template <typename T>
std::string Show(const T& v) {
  std::ostringstream o;
  if constexpr (std::is_same_v<T, char> || std::is_same_v<T, signed char> ||
                std::is_same_v<T, unsigned char>) {
    o << int(v);
  } else {
    o << v;
  }
  return o.str();
}

// Integers of different signedness compare by value (std::cmp_equal), so CHECK_EQ(u32, 5)
// neither warns nor surprises.
template <typename T>
constexpr bool kStdInt = std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                         !std::is_same_v<T, char> && !std::is_same_v<T, wchar_t> &&
                         !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> &&
                         !std::is_same_v<T, char32_t>;

template <typename A, typename B>
bool Eq(const A& a, const B& b) {
  if constexpr (kStdInt<A> && kStdInt<B>) {
    return std::cmp_equal(a, b);
  } else {
    return a == b;
  }
}

}  // namespace vt

#define VT_CAT2(a, b) a##b
#define VT_CAT(a, b) VT_CAT2(a, b)

#define TEST(name)                                              \
  static void name();                                           \
  static ::vt::Registrar VT_CAT(vt_reg_, name)(#name, &name);   \
  static void name()

// Both evaluate to the truth of the condition, so a loop can stop at its first failure:
//   if (!CHECK_EQ(got, want)) break;
#define CHECK(cond)                                                              \
  ([&]() -> bool {                                                               \
    if (cond) return true;                                                       \
    ::vt::ReportFailure(__FILE__, __LINE__, #cond);                              \
    return false;                                                                \
  }())

#define CHECK_EQ(a, b)                                                                 \
  ([&]() -> bool {                                                                     \
    const auto& vt_a = (a);                                                            \
    const auto& vt_b = (b);                                                            \
    if (::vt::Eq(vt_a, vt_b)) return true;                                                   \
    ::vt::ReportFailure(__FILE__, __LINE__,                                            \
                        std::string(#a " == " #b " (") + ::vt::Show(vt_a) + " vs " +    \
                            ::vt::Show(vt_b) + ")");                                   \
    return false;                                                                      \
  }())
