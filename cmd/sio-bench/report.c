#include "report.h"

#include <string.h>

/* x rounded to a tenth (a hundredth below 10), for figures that read well. */
static json_t *num(double x)
{
	double scale = x < 10 && x > -10 ? 100 : 10;
	double r = x * scale + (x < 0 ? -0.5 : 0.5);
	return json_real((double)(long long)r / scale);
}

static json_t *count(uint64_t n) { return json_integer((json_int_t)n); }

static double secs(uint64_t from, uint64_t to) { return to > from ? (double)(to - from) / 1e9 : 0; }

static json_t *percentiles(const struct sio_hist *h, bool p999)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "p50", num((double)sio_hist_percentile(h, 50) / 1e3));
	json_object_set_new(o, "p99", num((double)sio_hist_percentile(h, 99) / 1e3));
	if (p999)
		json_object_set_new(o, "p999", num((double)sio_hist_percentile(h, 99.9) / 1e3));
	json_object_set_new(o, "max", num((double)h->max / 1e3));
	json_object_set_new(o, "mean", num(h->count ? (double)h->sum / (double)h->count / 1e3 : 0));
	return o;
}

json_t *sio_report_summary(const struct sio_bench_plan *p, const struct sio_bench_result *r,
			  const char *error)
{
	json_t *o = json_object(), *urls = json_array(), *pids = json_array();
	const struct sio_bench_server *s = &r->server;
	bool fan = p->mode == SIO_BENCH_FANOUT || p->mode == SIO_BENCH_RELAY;

	if (!o || !urls || !pids) {
		json_decref(o);
		json_decref(urls);
		json_decref(pids);
		return NULL;
	}
	for (size_t i = 0; i < p->ntargets; i++)
		json_array_append_new(urls, json_string(p->targets[i].url));
	for (size_t i = 0; i < p->nserver_pids; i++)
		json_array_append_new(pids, json_integer(p->server_pids[i]));
	json_object_set_new(o, "mode", json_string(sio_bench_mode_name(p->mode)));
	json_object_set_new(o, "completed", json_boolean(!error));
	if (error)
		json_object_set_new(o, "error", json_string(error));
	json_object_set_new(o, "url", urls);
	if (fan)
		json_object_set_new(o, "publish_url", json_string(p->publish->url));
	if (sio_bench_mode_app(p->mode))
		json_object_set_new(o, "channel", json_string(p->channel));
	json_object_set_new(o, "connections", count(p->connections));
	json_object_set_new(o, "workers", json_integer(p->workers));
	json_object_set_new(o, "established", count(r->established));
	json_object_set_new(o, "failed", count(r->failed));
	json_object_set_new(o, "dropped", count(r->dropped));
	if (r->drop_why[0])
		json_object_set_new(o, "first_drop", json_string(r->drop_why));
	double cs = secs(r->first_connect_ns, r->last_established_ns);
	json_object_set_new(o, "connect_s", num(cs));
	json_object_set_new(o, "connect_rate", num(cs > 0 ? (double)r->established / cs : 0));
	json_object_set_new(o, "handshake_us", percentiles(&r->handshake, false));
	json_object_set_new(o, "server_pids", pids);

	double cpu = s->ok ? (double)(s->cpu_end_ns - s->cpu_start_ns) / 1e9 : -1;
	double span = secs(s->sample_start_ns, s->sample_end_ns);
	if (s->ok && s->sample_end_ns) {
		json_object_set_new(o, "server_rss_idle", count(s->rss_idle));
		json_object_set_new(o, "server_rss", count(s->rss_end));
		json_object_set_new(o, "server_cpu_s", num(cpu));
		json_object_set_new(o, "server_cpu_pct", num(span > 0 ? cpu / span * 100 : 0));
	}
	if (s->pinned && s->sample_end_ns && s->core_total_end > s->core_total_start)
		json_object_set_new(o, "server_cores_busy_pct",
				    num((double)(s->core_busy_end - s->core_busy_start) * 100 /
					(double)(s->core_total_end - s->core_total_start)));
	if (s->self_pinned && s->sample_end_ns && s->self_total_end > s->self_total_start)
		json_object_set_new(o, "generator_cores_busy_pct",
				    num((double)(s->self_busy_end - s->self_busy_start) * 100 /
					(double)(s->self_total_end - s->self_total_start)));
	switch (p->mode) {
	case SIO_BENCH_HOLD:
		json_object_set_new(o, "held_s", num(secs(r->hold_start_ns, r->hold_end_ns)));
		json_object_set_new(o, "pings", count(r->pings));
		if (s->ok && s->sample_end_ns && r->established)
			json_object_set_new(o, "server_rss_per_conn",
					    num(((double)s->rss_end - (double)s->rss_idle) /
						(double)r->established));
		if (s->kernel_idle >= 0 && s->kernel_end >= 0 && r->established && s->sample_end_ns)
			json_object_set_new(o, "kernel_per_conn",
					    num((double)(s->kernel_end - s->kernel_idle) /
						(double)r->established));
		break;
	case SIO_BENCH_CONNECT_RATE:
		if (s->ok && s->sample_end_ns && r->established)
			json_object_set_new(o, "server_cpu_us_per_conn",
					    num(cpu * 1e6 / (double)r->established));
		break;
	case SIO_BENCH_APP_FLOOD: {
		double ps = secs(r->measure_start_ns, r->publish_end_ns);
		json_object_set_new(o, "clients", count(p->connections));
		json_object_set_new(o, "size", json_integer(p->size));
		json_object_set_new(o, "duration_s", num(ps));
		json_object_set_new(o, "sent", count(r->published));
		json_object_set_new(o, "sent_per_s", num(ps > 0 ? (double)r->published / ps : 0));
		break;
	}
	case SIO_BENCH_FANOUT:
	case SIO_BENCH_RELAY:
	case SIO_BENCH_APP_RTT: {
		double ps = secs(r->measure_start_ns, r->publish_end_ns);
		double ds = secs(r->measure_start_ns, r->last_delivery_ns);
		uint64_t lost = r->expected > r->delivered ? r->expected - r->delivered : 0;
		json_object_set_new(o, "subscribers", count(p->connections));
		json_object_set_new(o, "primed", count(r->primed));
		json_object_set_new(o, "size", json_integer(p->size));
		json_object_set_new(o, "rate", num(p->rate));
		json_object_set_new(o, "window", json_integer(p->window));
		json_object_set_new(o, "duration_s", num(ps));
		json_object_set_new(o, "published", count(r->published));
		json_object_set_new(o, "publish_rate", num(ps > 0 ? (double)r->published / ps : 0));
		json_object_set_new(o, "expected", count(r->expected));
		json_object_set_new(o, "delivered", count(r->delivered));
		json_object_set_new(o, "lost", count(lost));
		json_object_set_new(o, "loss_pct",
				    num(r->expected ? (double)lost * 100 / (double)r->expected : 0));
		json_object_set_new(o, "reordered", count(r->reordered));
		json_object_set_new(o, "frames_per_s", num(ds > 0 ? (double)r->delivered / ds : 0));
		json_object_set_new(o, "latency_us", percentiles(&r->latency, true));
		if (s->ok && s->sample_end_ns && r->delivered)
			json_object_set_new(o, "server_cpu_us_per_frame",
					    num(cpu * 1e6 / (double)r->delivered));
		double ms = secs(r->measure_start_ns,
				 r->measure_end_ns ? r->measure_end_ns : r->last_delivery_ns);
		if (r->measure_cpu_ns && ms > 0)
			json_object_set_new(o, "generator_cpu_pct",
					    num((double)r->measure_cpu_ns / 1e9 / ms * 100));
		break;
	}
	}
	return o;
}

static double real(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static bool has(const json_t *o, const char *key) { return json_object_get(o, key) != NULL; }

/* A duration in µs, in the unit that reads best. */
static const char *us(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2f s", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.2f ms", v / 1e3);
	else
		snprintf(buf, len, "%.1f µs", v);
	return buf;
}

static const char *bytes(char *buf, size_t len, double v)
{
	if (v >= 1 << 30 || v <= -(1 << 30))
		snprintf(buf, len, "%.2f GiB", v / (1 << 30));
	else if (v >= 1 << 20 || v <= -(1 << 20))
		snprintf(buf, len, "%.1f MiB", v / (1 << 20));
	else if (v >= 1 << 10 || v <= -(1 << 10))
		snprintf(buf, len, "%.2f KiB", v / (1 << 10));
	else
		snprintf(buf, len, "%.0f B", v);
	return buf;
}

static void lat(FILE *out, const char *label, const json_t *h, bool p999)
{
	char a[32], b[32], c[32], d[32];

	if (!h || real(h, "max") <= 0)
		return;
	fprintf(out, "  %-20s p50 %s   p99 %s", label, us(a, sizeof a, real(h, "p50")),
		us(b, sizeof b, real(h, "p99")));
	if (p999)
		fprintf(out, "   p99.9 %s", us(c, sizeof c, real(h, "p999")));
	fprintf(out, "   max %s\n", us(d, sizeof d, real(h, "max")));
}

void sio_report_table(FILE *out, const json_t *o)
{
	const char *mode = json_string_value(json_object_get(o, "mode"));
	const json_t *urls = json_object_get(o, "url");
	char a[32], b[32];
	bool fan = has(o, "subscribers");

	fprintf(out, "sio-bench %s: %s%s\n", mode, json_string_value(json_array_get(urls, 0)),
		json_array_size(urls) > 1 ? " ..." : "");
	if (has(o, "publish_url"))
		fprintf(out, "  %-20s %s\n", "publisher", json_string_value(json_object_get(o, "publish_url")));
	if (has(o, "channel"))
		fprintf(out, "  %-20s %s\n", "channel", json_string_value(json_object_get(o, "channel")));
	fprintf(out, "  %-20s %.0f established, %.0f failed, %.0f dropped (%.0f process%s)\n",
		fan ? "subscribers" : "connections", real(o, "established"), real(o, "failed"),
		real(o, "dropped"), real(o, "workers"), real(o, "workers") > 1 ? "es" : "");
	if (has(o, "first_drop"))
		fprintf(out, "  %-20s %s\n", "first drop",
			json_string_value(json_object_get(o, "first_drop")));
	fprintf(out, "  %-20s %.0f /s (%.2f s)\n", "connect rate", real(o, "connect_rate"),
		real(o, "connect_s"));
	lat(out, "handshake", json_object_get(o, "handshake_us"), false);
	if (has(o, "held_s"))
		fprintf(out, "  %-20s %.1f s, %.0f pings answered\n", "held", real(o, "held_s"),
			real(o, "pings"));
	if (fan) {
		fprintf(out, "  %-20s %.0f messages of %.0f bytes in %.1f s (%.1f /s%s)\n", "published",
			real(o, "published"), real(o, "size"), real(o, "duration_s"),
			real(o, "publish_rate"), real(o, "rate") > 0 ? "" : ", saturated");
		fprintf(out, "  %-20s %.0f frames, %.0f /s\n", "delivered", real(o, "delivered"),
			real(o, "frames_per_s"));
		fprintf(out, "  %-20s %.0f of %.0f (%.2f %%)%s\n", "lost", real(o, "lost"),
			real(o, "expected"), real(o, "loss_pct"),
			real(o, "reordered") > 0 ? ", some out of order" : "");
		lat(out, strcmp(mode, "app-rtt") == 0 ? "round trip" : "latency",
		    json_object_get(o, "latency_us"), true);
	}
	if (has(o, "sent_per_s"))
		fprintf(out, "  %-20s %.0f messages of %.0f bytes in %.1f s (%.0f /s)\n", "sent",
			real(o, "sent"), real(o, "size"), real(o, "duration_s"), real(o, "sent_per_s"));
	if (has(o, "server_rss")) {
		fprintf(out, "  %-20s %s idle, %s at the end\n", "server memory",
			bytes(a, sizeof a, real(o, "server_rss_idle")),
			bytes(b, sizeof b, real(o, "server_rss")));
		if (has(o, "server_rss_per_conn"))
			fprintf(out, "  %-20s %s\n", "server per conn",
				bytes(a, sizeof a, real(o, "server_rss_per_conn")));
		fprintf(out, "  %-20s %.2f s (%.1f %% of a core)\n", "server CPU",
			real(o, "server_cpu_s"), real(o, "server_cpu_pct"));
		if (has(o, "server_cores_busy_pct"))
			fprintf(out, "  %-20s %.1f %% (softirq and other processes included)\n",
				"server's CPUs busy", real(o, "server_cores_busy_pct"));
		if (has(o, "server_cpu_us_per_frame"))
			fprintf(out, "  %-20s %.2f µs\n", "server CPU/frame",
				real(o, "server_cpu_us_per_frame"));
		if (has(o, "server_cpu_us_per_conn"))
			fprintf(out, "  %-20s %.1f µs\n", "server CPU/conn",
				real(o, "server_cpu_us_per_conn"));
	}
	if (has(o, "generator_cpu_pct"))
		fprintf(out, "  %-20s %.1f %% of a core (its processes together, while measuring)\n",
			"generator CPU", real(o, "generator_cpu_pct"));
	if (has(o, "generator_cores_busy_pct"))
		fprintf(out, "  %-20s %.1f %% (softirq and other processes included)\n",
			"sio-bench's CPUs busy", real(o, "generator_cores_busy_pct"));
	if (has(o, "kernel_per_conn"))
		fprintf(out, "  %-20s %s (slab and TCP buffers, both ends)\n", "kernel per conn",
			bytes(a, sizeof a, real(o, "kernel_per_conn")));
	if (has(o, "error"))
		fprintf(out, "  %-20s %s\n", "error", json_string_value(json_object_get(o, "error")));
}
