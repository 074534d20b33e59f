; type: cgroup_sock_addr
; attach: cgroup_udp4_recvmsg
r2 = *(u32 *)(r1 + 4)
r0 = 0
exit
