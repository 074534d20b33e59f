; type: cgroup_skb
r0 = 2
exit
