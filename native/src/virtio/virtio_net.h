// virtio 1.x constants shared by the virtqueue code (vring.h), the vhost-user protocol
// (vhost_user.h) and the ports built on them: feature bits, device status bits, the
// virtio-net header. Numbers from the virtio specification (../shared/testdata/virtio-spec:
// content.tex, split-ring.tex, packed-ring.tex, device-types/net) and QEMU's vhost-user.rst.
// Everything on the wire / in shared memory is little-endian (virtio 1.x); x86 and arm64
// hosts are little-endian, which the static_assert below makes explicit.
#pragma once

#include <cstdint>

namespace vnf::virtio {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian; add byte swaps for big-endian hosts");

// Feature bits (bit numbers).
enum Feature : uint32_t {
  kNetCsum = 0,          // VIRTIO_NET_F_CSUM: device handles packets with partial checksum
  kNetGuestCsum = 1,     // VIRTIO_NET_F_GUEST_CSUM: driver handles packets with partial checksum
  kNetCtrlGuestOffloads = 2,
  kNetMtu = 3,
  kNetMac = 5,
  kNetGuestTso4 = 7,
  kNetGuestTso6 = 8,
  kNetGuestEcn = 9,
  kNetGuestUfo = 10,
  kNetHostTso4 = 11,
  kNetHostTso6 = 12,
  kNetHostEcn = 13,
  kNetHostUfo = 14,
  kNetMrgRxbuf = 15,     // mergeable receive buffers: num_buffers in the header
  kNetStatus = 16,
  kNetCtrlVq = 17,
  kNetCtrlRx = 18,
  kNetCtrlVlan = 19,
  kNetGuestAnnounce = 21,
  kNetMq = 22,           // several queue pairs
  kNotifyOnEmpty = 24,   // legacy
  kAnyLayout = 27,
  kRingIndirectDesc = 28,
  kRingEventIdx = 29,
  kProtocolFeatures = 30,  // vhost-user: VHOST_USER_F_PROTOCOL_FEATURES
  kVersion1 = 32,
  kAccessPlatform = 33,
  kRingPacked = 34,
  kInOrder = 35,
  kOrderPlatform = 36,
  kSrIov = 37,
  kNotificationData = 38,
  kRingReset = 40,
};
constexpr uint64_t Bit(uint32_t f) { return uint64_t(1) << f; }

// Device status bits.
enum Status : uint8_t {
  kStatusAcknowledge = 1,
  kStatusDriver = 2,
  kStatusDriverOk = 4,
  kStatusFeaturesOk = 8,
  kStatusDeviceNeedsReset = 64,
  kStatusFailed = 128,
};

// Descriptor flags (split and packed).
constexpr uint16_t kDescNext = 1, kDescWrite = 2, kDescIndirect = 4;
// Packed ring only.
constexpr uint16_t kDescAvail = 1 << 7, kDescUsed = 1 << 15;
// Split ring: avail.flags / used.flags without EVENT_IDX.
constexpr uint16_t kAvailNoInterrupt = 1, kUsedNoNotify = 1;
// Packed ring event suppression flags.
constexpr uint16_t kEventFlagsEnable = 0, kEventFlagsDisable = 1, kEventFlagsDesc = 2;

// The virtio-net header in front of every packet (VERSION_1: always 12 bytes, num_buffers
// present; with MRG_RXBUF it counts the buffers of a received packet, else it is 1 or unused).
struct NetHdr {
  uint8_t flags;        // kNetHdrNeedsCsum, kNetHdrDataValid
  uint8_t gso_type;     // kGso*
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
static_assert(sizeof(NetHdr) == 12);
constexpr uint8_t kNetHdrNeedsCsum = 1, kNetHdrDataValid = 2;
constexpr uint8_t kGsoNone = 0, kGsoTcpV4 = 1, kGsoUdp = 3, kGsoTcpV6 = 4, kGsoEcn = 0x80;

// Virtqueue numbering of a net device: receiveq0, transmitq0, receiveq1, ..., controlq last.
constexpr uint32_t RxQueue(uint32_t pair) { return pair * 2; }
constexpr uint32_t TxQueue(uint32_t pair) { return pair * 2 + 1; }

}  // namespace vnf::virtio
