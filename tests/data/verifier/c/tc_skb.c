// tc classifier: reads and writes __sk_buff fields, direct packet access.
#include <bpf_helpers.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

SEC("tc") int tc_mark(struct __sk_buff *skb) {
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end) return TC_ACT_OK;
    skb->mark = eth->h_proto;
    skb->cb[0] = skb->len;
    skb->priority = skb->cb[0] & 7;
    return TC_ACT_OK;
}

SEC("socket") int sock_len(struct __sk_buff *skb) {
    return skb->len > 100 ? 0 : skb->len;
}
BPF_LICENSE("GPL");
