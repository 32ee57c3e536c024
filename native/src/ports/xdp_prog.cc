// XDP redirect program through the raw bpf() system call (see xdp_prog.h).
#include "xdp_prog.h"

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

namespace vnf {
namespace {

int Bpf(int cmd, bpf_attr* attr) {
  // Fields past what this header knows stay zero, which the kernel requires.
  return int(syscall(__NR_bpf, cmd, attr, sizeof(*attr)));
}

uint64_t Ptr(const void* p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); }

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof(i));
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

std::string Errno(int err) { return std::strerror(err); }

// What a failed bpf() call needs, said in terms of privileges.
std::string PermissionHint(int err) {
  if (err == EPERM || err == EACCES) return " (needs CAP_BPF and CAP_NET_ADMIN, or root)";
  return "";
}

}  // namespace

int XdpProgram::CreateMap(uint32_t entries, std::string* why) {
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = entries;
  std::strncpy(attr.map_name, "vnf_xsks", sizeof(attr.map_name) - 1);
  const int fd = Bpf(BPF_MAP_CREATE, &attr);
  if (fd < 0) {
    const int err = errno;
    *why = "creating the XSKMAP (bpf BPF_MAP_CREATE): " + Errno(err) + PermissionHint(err);
    return err;
  }
  map_fd_ = fd;
  return 0;
}

int XdpProgram::SetSocket(uint32_t queue_id, int xsk_fd, std::string* why) {
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  uint32_t key = queue_id;
  uint32_t value = uint32_t(xsk_fd);
  attr.map_fd = uint32_t(map_fd_);
  attr.key = Ptr(&key);
  attr.value = Ptr(&value);
  attr.flags = BPF_ANY;
  if (Bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
    const int err = errno;
    *why = "putting the socket of queue " + std::to_string(queue_id) + " in the XSKMAP: " + Errno(err);
    return err;
  }
  return 0;
}

int XdpProgram::Load(std::string* why) {
  const bpf_insn prog[] = {
      // r2 = *(u32 *)(r1 + offsetof(struct xdp_md, rx_queue_index))
      Insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, int16_t(offsetof(xdp_md, rx_queue_index)), 0),
      // r1 = map (two-slot 64-bit immediate; the verifier swaps the fd for the map)
      Insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd_),
      Insn(0, 0, 0, 0, 0),
      // r3 = XDP_PASS: the action when the queue has no socket
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static const char kLicense[] = "Dual BSD/GPL";
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.expected_attach_type = BPF_XDP;
  attr.insns = Ptr(prog);
  attr.insn_cnt = uint32_t(sizeof(prog) / sizeof(prog[0]));
  attr.license = Ptr(kLicense);
  std::strncpy(attr.prog_name, "vnf_xsk_redir", sizeof(attr.prog_name) - 1);
  int fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) {
    prog_fd_ = fd;
    return 0;
  }
  int err = errno;
  if (err == EPERM || err == EACCES) {
    // Not a verifier question: say which privilege is missing, the log would only confuse.
    *why = "loading the XDP program (bpf BPF_PROG_LOAD): " + Errno(err) + PermissionHint(err);
    return err;
  }
  // Load again with the verifier's log, so the error says what it rejected.
  std::vector<char> log(64 * 1024, '\0');
  attr.log_level = 1;
  attr.log_buf = Ptr(log.data());
  attr.log_size = uint32_t(log.size());
  fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) {  // passed the second time: keep it
    prog_fd_ = fd;
    return 0;
  }
  err = errno;
  log.back() = '\0';
  std::string text(log.data());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  *why = "loading the XDP program (bpf BPF_PROG_LOAD): " + Errno(err) +
         (text.empty() ? std::string() : "; verifier log:\n" + text);
  return err;
}

int XdpProgram::Attach(uint32_t ifindex, XdpAttach mode, XdpAttach* used, std::string* note, std::string* why) {
  auto link = [&](uint32_t flags) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.link_create.prog_fd = uint32_t(prog_fd_);
    attr.link_create.target_ifindex = ifindex;
    attr.link_create.attach_type = BPF_XDP;
    attr.link_create.flags = flags;
    const int fd = Bpf(BPF_LINK_CREATE, &attr);
    return fd >= 0 ? fd : -errno;
  };
  auto describe = [](int err, const char* what) {
    std::string s = std::string("attaching the XDP program in ") + what + " mode (bpf BPF_LINK_CREATE): " + Errno(err);
    if (err == EBUSY || err == EEXIST)
      s += " (another XDP program is attached to the interface: see `ip link show`; detach it first)";
    else if (err == EPERM || err == EACCES)
      s += " (needs CAP_NET_ADMIN and CAP_BPF, or root)";
    return s;
  };
  int r;
  if (mode != XdpAttach::kGeneric) {
    r = link(XDP_FLAGS_DRV_MODE);
    if (r >= 0) {
      link_fd_ = r;
      *used = XdpAttach::kNative;
      return 0;
    }
    const int err = -r;
    // These are answers about the interface, not about the mode: no point in retrying.
    if (mode == XdpAttach::kNative || err == EBUSY || err == EEXIST || err == EPERM || err == EACCES) {
      *why = describe(err, "native (driver)");
      if (err == ENOSPC)
        *why += " (veth: the interface needs at least as many receive queues as its peer has transmit queues)";
      else if (err == ERANGE)
        *why += " (the MTU is too large for native XDP on this driver)";
      if (mode == XdpAttach::kNative && (err == EOPNOTSUPP || err == EINVAL))
        *why += " (the driver has no native XDP support, or refuses this configuration; try xdpMode 'generic')";
      return err;
    }
    *note = "native XDP refused (" + Errno(err) + "), using generic (SKB) XDP";
  }
  r = link(XDP_FLAGS_SKB_MODE);
  if (r >= 0) {
    link_fd_ = r;
    *used = XdpAttach::kGeneric;
    return 0;
  }
  *why = describe(-r, "generic (SKB)");
  return -r;
}

void XdpProgram::Close() {
  // The link first: that is what detaches the program from the interface.
  if (link_fd_ >= 0) close(link_fd_);
  if (prog_fd_ >= 0) close(prog_fd_);
  if (map_fd_ >= 0) close(map_fd_);
  link_fd_ = prog_fd_ = map_fd_ = -1;
}

}  // namespace vnf
