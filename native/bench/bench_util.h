// Shared by the native benchmark programs: clocks, medians and the JSON-lines output the
// bench suites (tooling/bench) parse.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace vnf::bench {

inline double Seconds(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Wall time.
inline double Now() { return Seconds(CLOCK_MONOTONIC); }

// This thread's CPU time: time slices the scheduler gave to other jobs on a shared machine
// are not counted (cache pollution by them still is).
inline double CpuNow() { return Seconds(CLOCK_THREAD_CPUTIME_ID); }

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// One figure as a JSON line: {"name":...,"unit":...,"value":...}.
inline void Print(const std::string& name, const char* unit, double v) {
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.6g}\n", name.c_str(), unit, v);
}

}  // namespace vnf::bench
