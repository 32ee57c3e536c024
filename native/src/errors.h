// Error codes shared by the native core and its JS binding. Hot-path functions return them
// as negative numbers (no exception crosses the boundary on the data path); the binding
// turns them into typed VnfError objects with the string codes below.
#pragma once
#include <cstdint>

namespace vnf {

enum Status : int32_t {
  kOk = 0,
  kErrInvalidArgument = -1,
  kErrClosed = -2,
  kErrIndexRange = -3,
  kErrDoubleFree = -4,
  kErrNotAllocated = -5,
  kErrUseAfterFree = -6,
  kErrBurstCapacity = -7,
  kErrBadHandle = -8,
  kErrNoMemory = -9,
  kErrNoHugepages = -10,
  kErrSystem = -11,
  kErrPoolOverflow = -12,
  kErrNoDevice = -13,    // no such interface or device
  kErrPermission = -14,  // the operation needs a privilege (CAP_NET_RAW, CAP_NET_ADMIN)
  kErrLinkDown = -15,    // the interface is down
  kErrFrameSize = -16,   // a frame over the MTU or over a buffer
  kErrPort = -17,        // a port failed while running; its error() says why
  kErrLast = kErrPort,
};

inline const char* StatusCode(int32_t s) {
  switch (s) {
    case kErrInvalidArgument: return "VNF_INVALID_ARGUMENT";
    case kErrClosed: return "VNF_CLOSED";
    case kErrIndexRange: return "VNF_INDEX_RANGE";
    case kErrDoubleFree: return "VNF_DOUBLE_FREE";
    case kErrNotAllocated: return "VNF_NOT_ALLOCATED";
    case kErrUseAfterFree: return "VNF_USE_AFTER_FREE";
    case kErrBurstCapacity: return "VNF_BURST_CAPACITY";
    case kErrBadHandle: return "VNF_BAD_HANDLE";
    case kErrNoMemory: return "VNF_NO_MEMORY";
    case kErrNoHugepages: return "VNF_NO_HUGEPAGES";
    case kErrSystem: return "VNF_SYSTEM";
    case kErrPoolOverflow: return "VNF_POOL_OVERFLOW";
    case kErrNoDevice: return "VNF_NO_DEVICE";
    case kErrPermission: return "VNF_PERMISSION";
    case kErrLinkDown: return "VNF_LINK_DOWN";
    case kErrFrameSize: return "VNF_FRAME_SIZE";
    case kErrPort: return "VNF_PORT";
    default: return "VNF_UNKNOWN";
  }
}

// Where a hot-path failure happened: which buffer index, at which position of the burst.
struct ErrorDetail {
  uint32_t index = 0;
  uint32_t position = 0;
};

}  // namespace vnf
