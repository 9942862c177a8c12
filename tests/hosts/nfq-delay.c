/* nfq-delay: holds every packet of an NFQUEUE for a fixed time, then
 * accepts it. A stand-in for netem's delay on kernels without sch_netem,
 * for the tests of tests/hosts/: run inside a network namespace, beside a
 * rule that queues that namespace's packets (nft "queue num N bypass", or
 * iptables "-j NFQUEUE --queue-num N --queue-bypass").
 *
 *   nfq-delay [-q QUEUE] [-d DELAY_MS] [-n MAX_HELD]
 *
 * Packets leave in the order they came: the delay is the same for all, so
 * a FIFO of verdicts due in turn is the whole scheduler. At most MAX_HELD
 * packets wait at once; one more is dropped, as a full router queue would.
 * On SIGTERM or SIGINT every packet still held is accepted at once (none is
 * left to the kernel, which would drop it when the queue goes), the counts
 * are printed on standard error and the exit status is 0.
 *
 * Standard error gets "nfq-delay: ready queue=N delay_ms=D" once the queue
 * is bound, so that a script can wait for it before it adds the rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct held {
	uint32_t id;
	uint64_t due_ns;
};

struct delayer {
	struct nfq_q_handle *qh;
	uint64_t delay_ns;
	struct held *ring;
	size_t cap, head, count;
	unsigned long long seen, accepted, dropped, max_held, verdict_errors;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void verdict(struct delayer *d, uint32_t id, uint32_t v)
{
	if (nfq_set_verdict(d->qh, id, v, 0, NULL) < 0)
		d->verdict_errors++;
	else if (v == NF_ACCEPT)
		d->accepted++;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
		     void *arg)
{
	struct delayer *d = arg;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);

	(void)qh;
	(void)msg;
	if (!ph)
		return 0;
	uint32_t id = ntohl(ph->packet_id);
	d->seen++;
	if (d->count == d->cap) {
		d->dropped++;
		verdict(d, id, NF_DROP);
		return 0;
	}
	d->ring[(d->head + d->count) % d->cap] = (struct held){ id, now_ns() + d->delay_ns };
	d->count++;
	if (d->count > d->max_held)
		d->max_held = d->count;
	return 0;
}

/* Accepts the packets whose time has come (all of them when flushing). */
static void release(struct delayer *d, uint64_t now, int flush)
{
	while (d->count && (flush || d->ring[d->head].due_ns <= now)) {
		verdict(d, d->ring[d->head].id, NF_ACCEPT);
		d->head = (d->head + 1) % d->cap;
		d->count--;
	}
}

static long parse_num(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "nfq-delay: fatal: bad %s: %s (%ld to %ld)\n", what, s, min, max);
		exit(64);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct delayer d = { .cap = 8192 };
	long queue = 0, delay_ms = 50;
	int opt;

	while ((opt = getopt(argc, argv, "q:d:n:h")) != -1) {
		switch (opt) {
		case 'q':
			queue = parse_num(optarg, "queue", 0, 65535);
			break;
		case 'd':
			delay_ms = parse_num(optarg, "delay", 0, 60000);
			break;
		case 'n':
			d.cap = (size_t)parse_num(optarg, "packet count", 1, 1000000);
			break;
		default:
			fprintf(stderr, "usage: nfq-delay [-q QUEUE] [-d DELAY_MS] [-n MAX_HELD]\n");
			return opt == 'h' ? 0 : 64;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: nfq-delay [-q QUEUE] [-d DELAY_MS] [-n MAX_HELD]\n");
		return 64;
	}
	d.delay_ns = (uint64_t)delay_ms * 1000000u;
	d.ring = calloc(d.cap, sizeof *d.ring);
	if (!d.ring) {
		fprintf(stderr, "nfq-delay: fatal: out of memory\n");
		return 1;
	}

	/* The handler only sets a flag; the signals stay blocked but inside
	 * ppoll, so that one cannot slip in between the check and the wait. */
	sigset_t block, waitmask;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	struct nfq_handle *h = nfq_open();
	if (!h) {
		fprintf(stderr, "nfq-delay: fatal: unable to open nfnetlink_queue: %s\n",
			strerror(errno));
		return 1;
	}
	if (nfq_bind_pf(h, AF_INET) < 0) {
		fprintf(stderr, "nfq-delay: fatal: unable to bind AF_INET: %s\n", strerror(errno));
		nfq_close(h);
		return 1;
	}
	d.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, &d);
	if (!d.qh) {
		fprintf(stderr, "nfq-delay: fatal: unable to bind queue %ld: %s\n", queue,
			strerror(errno));
		nfq_close(h);
		return 1;
	}
	/* The verdict needs the packet id only, never its bytes. */
	if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0 ||
	    nfq_set_queue_maxlen(d.qh, (uint32_t)(d.cap > UINT32_MAX ? UINT32_MAX : d.cap)) < 0) {
		fprintf(stderr, "nfq-delay: fatal: unable to set up queue %ld: %s\n", queue,
			strerror(errno));
		nfq_destroy_queue(d.qh);
		nfq_close(h);
		return 1;
	}
	int fd = nfq_fd(h), one = 1;
	/* A burst must not overflow the netlink socket: a lost message is a
	 * packet the kernel holds until the queue is torn down. */
	nfnl_rcvbufsiz(nfq_nfnlh(h), 16u << 20);
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
	fprintf(stderr, "nfq-delay: ready queue=%ld delay_ms=%ld max_held=%zu\n", queue, delay_ms,
		d.cap);

	static char buf[65536] __attribute__((aligned));
	int rc = 0;
	while (!stop) {
		uint64_t now = now_ns();
		release(&d, now, 0);
		struct timespec ts, *tmo = NULL;
		if (d.count) {
			uint64_t left = d.ring[d.head].due_ns - now;
			ts.tv_sec = (time_t)(left / 1000000000u);
			ts.tv_nsec = (long)(left % 1000000000u);
			tmo = &ts;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = ppoll(&pfd, 1, tmo, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "nfq-delay: fatal: poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (n == 0)
			continue;
		for (;;) {
			ssize_t len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
			if (len < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				    errno != ENOBUFS) {
					fprintf(stderr, "nfq-delay: fatal: recv: %s\n", strerror(errno));
					rc = 1;
				}
				break;
			}
			nfq_handle_packet(h, buf, (int)len);
		}
		if (rc)
			break;
	}
	release(&d, 0, 1);
	fprintf(stderr,
		"nfq-delay: done queue=%ld packets=%llu accepted=%llu dropped=%llu max_held=%llu "
		"verdict_errors=%llu\n",
		queue, d.seen, d.accepted, d.dropped, d.max_held, d.verdict_errors);
	nfq_destroy_queue(d.qh);
	nfq_close(h);
	free(d.ring);
	return rc;
}
