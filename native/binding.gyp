{
  "targets": [
    {
      "target_name": "vnf_core",
      "sources": ["src/addon.cc", "src/mempool.cc", "src/port_binding.cc", "src/ports/af_packet.cc", "src/ports/tap.cc", "src/ports/af_xdp.cc", "src/ports/xdp_prog.cc", "src/acl_binding.cc", "src/acl/acl_build.cc", "src/acl/acl_classify.cc", "src/acl/classbench.cc", "src/conntrack_binding.cc", "src/conntrack/conntrack.cc", "src/conntrack/tcp_state.cc", "src/nat_binding.cc", "src/nat/nat.cc", "src/nat/packet.cc", "src/virtio/vring.cc", "src/virtio/vhost_user.cc", "src/virtio/offload.cc", "src/ports/virtio_user.cc", "src/ports/vhost_user_port.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux' and target_arch=='x64'", { "cflags_cc": ["-march=x86-64-v2"] }],
        ["'<!(echo $VNF_SANITIZE)'=='1'", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
