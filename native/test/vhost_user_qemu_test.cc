// Regression tests of src/virtio/vhost_user's back-end against what QEMU (7.2) sends, beyond
// what DPDK's virtio_user does: found by booting a Linux guest on our device
// (apps/router/test/vm-guest.test.ts).
#include <cstring>
#include <string>

#include "harness.h"
#include "virtio/vhost_user.h"

using namespace vnf::virtio;

namespace {

BackendConfig Device() {
  BackendConfig c;
  c.features = Bit(kVersion1) | Bit(kRingPacked) | Bit(kProtocolFeatures);
  c.max_queue_pairs = 1;
  return c;
}

VuResult SetFeatures(Backend* be, uint64_t f) {
  Message m(Request::kSetFeatures);
  m.SetU64(f);
  Message reply;
  bool has_reply = false;
  return be->Handle(m, &reply, &has_reply);
}

}  // namespace

// QEMU's SET_VRING_BASE for a packed ring carries the used position and wrap counter in the
// high 16 bits (0x80008000 for a fresh ring: both wrap counters 1, both positions 0). The
// back-end refused it as "over 65535", QEMU fell back to userspace virtio and the guest's link
// stayed down. It must be taken with RING_PACKED, kept whole for the device queue, and given
// back by GET_VRING_BASE; a split ring's base still may not exceed 16 bits.
TEST(vhost_user_packed_base_from_qemu) {
  {
    Backend be(Device());
    CHECK(SetFeatures(&be, Bit(kVersion1) | Bit(kRingPacked)).ok());
    Message base(Request::kSetVringBase);
    base.SetState(1, 0x80008000u);
    Message reply;
    bool has_reply = false;
    const VuResult r = be.Handle(base, &reply, &has_reply);
    CHECK(r.ok());
    CHECK(!has_reply);
    CHECK_EQ(be.queue(1).base, 0x80008000u);
    Message get(Request::kGetVringBase);
    get.SetState(1, 0);
    CHECK(be.Handle(get, &reply, &has_reply).ok());
    CHECK(has_reply);
    CHECK_EQ(reply.payload.state.index, 1u);
    CHECK_EQ(reply.payload.state.num, 0x80008000u);  // never started: handed back as set
  }
  {
    Backend be(Device());
    CHECK(SetFeatures(&be, Bit(kVersion1)).ok());  // split ring negotiated
    Message base(Request::kSetVringBase);
    base.SetState(0, 0x80008000u);
    Message reply;
    bool has_reply = false;
    const VuResult r = be.Handle(base, &reply, &has_reply);
    CHECK(r.code == VuError::kBadValue);
    CHECK(r.message.find("over 65535") != std::string::npos);
  }
}
