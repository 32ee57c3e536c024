// Runs every registered case (or those whose name contains argv[1]).
#include "harness.h"

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (const vt::TestCase& t : vt::Registry()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    vt::CurrentFailures() = 0;
    const auto start = std::chrono::steady_clock::now();
    t.fn();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const bool ok = vt::CurrentFailures() == 0;
    std::printf("%s %s (%.0f ms)\n", ok ? "[ OK ]" : "[FAIL]", t.name, ms);
    (ok ? passed : failed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
