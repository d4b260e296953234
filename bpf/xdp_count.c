// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The reference for the dropper's cost: an XDP program that does the least any squall
 * program does per packet, count it, and nothing else. It passes every packet and adds
 * it to one per-CPU counter (the dropper's struct sq_counter, at index 0). Loaded only by
 * the benchmark (tests/bench/xdp.ts), which compares its run time per packet with that of
 * xdp_drop under the same traffic.
 *
 * Rebuild with `deno task bpf` (bpf/build.sh), like xdp_drop.o.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "xdp_drop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sq_counter);
} counters SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sq_counter *counter;
	__u32 key = 0;

	counter = bpf_map_lookup_elem(&counters, &key);
	if (counter) {
		counter->packets++; /* per-CPU: no other writer */
		counter->bytes += data_end - data;
	}
	return XDP_PASS;
}
