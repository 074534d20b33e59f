; type: cgroup_sock_addr
; attach: cgroup_udp4_sendmsg
r2 = *(u32 *)(r1 + 40)
*(u32 *)(r1 + 40) = r2
r0 = 1
exit
