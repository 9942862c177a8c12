#include "stats.h"

static const char *const close_names[SIO_CLOSE_REASON_COUNT] = {
	[SIO_CLOSE_CLIENT] = "client",
	[SIO_CLOSE_REFUSED] = "refused",
	[SIO_CLOSE_POLICY] = "policy",
	[SIO_CLOSE_SLOW] = "slow_consumer",
	[SIO_CLOSE_TOO_BIG] = "too_big",
	[SIO_CLOSE_DRAIN] = "drain",
	[SIO_CLOSE_BUSY] = "busy",
	[SIO_CLOSE_IDLE] = "idle",
	[SIO_CLOSE_CLOSED] = "closed",
	[SIO_CLOSE_PROTOCOL] = "protocol",
	[SIO_CLOSE_INVALID_UTF8] = "invalid_utf8",
	[SIO_CLOSE_REBALANCE] = "rebalance",
};

static const char *const refusal_names[SIO_REFUSAL_COUNT] = {
	[SIO_REFUSED_ORIGIN] = "origin",
	[SIO_REFUSED_ADDRESS] = "address",
	[SIO_REFUSED_HANDSHAKE] = "handshake",
};

const char *sio_stats_refusal_name(enum sio_refusal refusal)
{
	return refusal < SIO_REFUSAL_COUNT ? refusal_names[refusal] : "unknown";
}

const char *sio_stats_close_reason_name(enum sio_close_reason reason)
{
	return reason < SIO_CLOSE_REASON_COUNT ? close_names[reason] : "unknown";
}

static void metric(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values are instance ids and fixed names; escape what the format asks. */
static void label_value(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(out, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

/* A metric of one sample without labels. */
static void single(FILE *out, const char *name, const char *type, const char *help, uint64_t n)
{
	metric(out, name, type, help);
	fprintf(out, "%s %llu\n", name, (unsigned long long)n);
}

/* One sample of a metric with one label. */
static void labelled(FILE *out, const char *name, const char *label, const char *value,
		     uint64_t n)
{
	fprintf(out, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)n);
}

void sio_stats_write_prometheus(FILE *out, const struct sio_stats *s)
{
	metric(out, "sio_info", "gauge", "Instance id and version.");
	fputs("sio_info{id=\"", out);
	label_value(out, s->id);
	fputs("\",version=\"", out);
	label_value(out, s->version);
	fputs("\"} 1\n", out);

	metric(out, "sio_clients", "gauge", "WebSocket connections counted against the limits.");
	fprintf(out, "sio_clients %llu\n", (unsigned long long)s->clients);
	metric(out, "sio_ready_clients", "gauge", "Connections that sent CLIENT_READY.");
	fprintf(out, "sio_ready_clients %llu\n", (unsigned long long)s->ready_clients);
	metric(out, "sio_limit_clients", "gauge", "Configured connection thresholds.");
	fprintf(out, "sio_limit_clients{limit=\"max\"} %llu\n", (unsigned long long)s->max_clients);
	fprintf(out, "sio_limit_clients{limit=\"high\"} %llu\n", (unsigned long long)s->high_clients);
	fprintf(out, "sio_limit_clients{limit=\"low_enough\"} %llu\n", (unsigned long long)s->low_enough);
	metric(out, "sio_load_state", "gauge", "1 for the current load state.");
	for (int st = SIO_LOAD_NORMAL; st <= SIO_LOAD_OVER; st++)
		fprintf(out, "sio_load_state{state=\"%s\"} %d\n",
			sio_load_state_name((enum sio_load_state)st), s->state == (enum sio_load_state)st);
	metric(out, "sio_draining", "gauge", "1 while the instance drains before exit.");
	fprintf(out, "sio_draining %d\n", s->draining ? 1 : 0);
	metric(out, "sio_channels", "gauge", "Channels with at least one local subscriber.");
	fprintf(out, "sio_channels %llu\n", (unsigned long long)s->channels);
	metric(out, "sio_subscriptions", "gauge", "Local subscriptions, all channels.");
	fprintf(out, "sio_subscriptions %llu\n", (unsigned long long)s->subscriptions);

	metric(out, "sio_connections_total", "counter", "WebSocket connections by outcome.");
	fprintf(out, "sio_connections_total{result=\"accepted\"} %llu\n", (unsigned long long)s->accepted);
	fprintf(out, "sio_connections_total{result=\"refused\"} %llu\n", (unsigned long long)s->refused);
	metric(out, "sio_closed_total", "counter", "Closed connections by reason.");
	for (int r = 0; r < SIO_CLOSE_REASON_COUNT; r++)
		fprintf(out, "sio_closed_total{reason=\"%s\"} %llu\n", close_names[r],
			(unsigned long long)s->closed[r]);

	metric(out, "sio_handshakes_refused_total", "counter",
	       "WebSocket upgrades refused by policy, by reason.");
	for (int r = 0; r < SIO_REFUSAL_COUNT; r++)
		fprintf(out, "sio_handshakes_refused_total{reason=\"%s\"} %llu\n", refusal_names[r],
			(unsigned long long)s->handshakes_refused[r]);
	metric(out, "sio_rate_limited_total", "counter",
	       "Times a connection over rate_limit had its reading paused.");
	fprintf(out, "sio_rate_limited_total %llu\n", (unsigned long long)s->rate_limited);
	metric(out, "sio_paced_total", "counter",
	       "Times a publisher had its reading paused because a peer is behind on our messages.");
	fprintf(out, "sio_paced_total %llu\n", (unsigned long long)s->paced);

	metric(out, "sio_frames_received_total", "counter", "Frames received from clients.");
	fprintf(out, "sio_frames_received_total %llu\n", (unsigned long long)s->frames_in);
	metric(out, "sio_frames_sent_total", "counter", "Frames sent to clients.");
	fprintf(out, "sio_frames_sent_total %llu\n", (unsigned long long)s->frames_out);
	metric(out, "sio_frame_writes_total", "counter",
	       "Writes that carried the frames sent (several frames coalesce into one).");
	fprintf(out, "sio_frame_writes_total %llu\n", (unsigned long long)s->writes_out);
	metric(out, "sio_received_bytes_total", "counter", "Payload bytes received from clients.");
	fprintf(out, "sio_received_bytes_total %llu\n", (unsigned long long)s->bytes_in);
	metric(out, "sio_sent_bytes_total", "counter", "Payload bytes sent to clients.");
	fprintf(out, "sio_sent_bytes_total %llu\n", (unsigned long long)s->bytes_out);
	metric(out, "sio_rejected_frames_total", "counter", "Rejected client frames by error.");
	for (int e = SIO_PROTO_VALIDATE_MESSAGE_ERROR; e < SIO_PROTO_ERROR_COUNT; e++)
		fprintf(out, "sio_rejected_frames_total{error=\"%s\"} %llu\n",
			sio_proto_error_name((enum sio_proto_error)e),
			(unsigned long long)s->rejected[e]);
	metric(out, "sio_published_total", "counter", "Valid client messages on a channel.");
	fprintf(out, "sio_published_total %llu\n", (unsigned long long)s->published);

	metric(out, "sio_relay_total", "counter", "Channel messages over the bus.");
	fprintf(out, "sio_relay_total{direction=\"in\"} %llu\n", (unsigned long long)s->relay_in);
	fprintf(out, "sio_relay_total{direction=\"out\"} %llu\n", (unsigned long long)s->relay_out);
	metric(out, "sio_bus_gaps_total", "counter", "Relayed messages missed, by sequence gaps.");
	fprintf(out, "sio_bus_gaps_total %llu\n", (unsigned long long)s->bus_gaps);
	metric(out, "sio_shed_total", "counter",
	       "Relayed messages not delivered because this instance is behind: skipped at intake "
	       "for every local subscriber (where=intake), or dropped oldest first from one "
	       "subscriber's full queue (where=queue, frames).");
	fprintf(out, "sio_shed_total{where=\"intake\"} %llu\n", (unsigned long long)s->relay_shed);
	fprintf(out, "sio_shed_total{where=\"queue\"} %llu\n", (unsigned long long)s->frames_shed);
	metric(out, "sio_lagging", "gauge", "1 from LAGGING to CAUGHT_UP: shedding relayed messages.");
	fprintf(out, "sio_lagging %d\n", s->lagging ? 1 : 0);
	metric(out, "sio_pace_rate", "gauge",
	       "Messages a second the mesh's pace lets in from local publishers (a peer behind); 0: none.");
	fprintf(out, "sio_pace_rate %u\n", (unsigned)s->pace_rate);
	metric(out, "sio_bus_heartbeats_total", "counter", "Heartbeats this instance published.");
	fprintf(out, "sio_bus_heartbeats_total %llu\n", (unsigned long long)s->bus_heartbeats);
	metric(out, "sio_bus_probes_total", "counter",
	       "Peers heard late, asked to send their heartbeats to our inbox too.");
	fprintf(out, "sio_bus_probes_total %llu\n", (unsigned long long)s->bus_probes);
	metric(out, "sio_bus_dropped_total", "counter", "Malformed or unknown bus messages dropped.");
	fprintf(out, "sio_bus_dropped_total %llu\n", (unsigned long long)s->bus_dropped);
	metric(out, "sio_bus_auth_failures_total", "counter", "Bus peers refused by CURVE.");
	fprintf(out, "sio_bus_auth_failures_total %llu\n", (unsigned long long)s->bus_auth_failures);
	metric(out, "sio_peers_alive", "gauge", "Peer instances heard from within dead_after_ms.");
	fprintf(out, "sio_peers_alive %llu\n", (unsigned long long)s->peers_alive);
	metric(out, "sio_mesh_instances", "gauge",
	       "Instances of the whole mesh, this one and other cells' included.");
	fprintf(out, "sio_mesh_instances %llu\n", (unsigned long long)s->mesh_instances);
	metric(out, "sio_cells", "gauge", "Cells of a two-level mesh known, this one's included.");
	fprintf(out, "sio_cells %llu\n", (unsigned long long)s->cells);
	metric(out, "sio_gateway", "gauge", "1 while this instance is a gateway of its cell.");
	fprintf(out, "sio_gateway %d\n", s->gateway ? 1 : 0);

	metric(out, "sio_events_total", "counter", "Events emitted, by name.");
	for (int e = 0; e < SIO_EV_COUNT; e++)
		fprintf(out, "sio_events_total{event=\"%s\"} %llu\n", sio_event_name((enum sio_event)e),
			(unsigned long long)s->events[e]);
	metric(out, "sio_queued_bytes", "gauge", "Bytes of outgoing frames not yet sent.");
	fprintf(out, "sio_queued_bytes %llu\n", (unsigned long long)s->queued_bytes);
	metric(out, "sio_log_suppressed_total", "counter", "Log lines held back by the rate limit.");
	fprintf(out, "sio_log_suppressed_total %llu\n",
		(unsigned long long)(s->log_suppressed + s->bus_log_suppressed));

	metric(out, "sio_app_backends", "gauge", "Application backends attached and alive, by role.");
	for (int r = SIO_APP_WORKER; r <= SIO_APP_OBSERVER; r++)
		labelled(out, "sio_app_backends", "role", sio_appmsg_role_name((enum sio_app_role)r),
			 s->app_backends[r]);
	metric(out, "sio_app_events_total", "counter", "Application events of this instance, by name.");
	for (int e = 0; e < SIO_APPEV_COUNT; e++)
		labelled(out, "sio_app_events_total", "event",
			 sio_appmsg_event_name((enum sio_app_event)e), s->app_events[e]);
	metric(out, "sio_app_events_dropped_total", "counter",
	       "Application event deliveries dropped: a backend's pipe full, or no worker past app_hold.");
	labelled(out, "sio_app_events_dropped_total", "reason", "full", s->app_dropped_full);
	labelled(out, "sio_app_events_dropped_total", "reason", "no_backend",
		 s->app_dropped_no_backend);
	metric(out, "sio_app_commands_total", "counter", "Backend commands carried out, by name.");
	for (int c = 0; c < SIO_APPCMD_COUNT; c++)
		labelled(out, "sio_app_commands_total", "cmd",
			 sio_appmsg_cmd_name((enum sio_app_cmd)c), s->app_commands[c]);
	metric(out, "sio_app_commands_failed_total", "counter",
	       "Backend commands not carried out: the connection gone, or malformed.");
	labelled(out, "sio_app_commands_failed_total", "reason", "gone", s->app_failed_gone);
	labelled(out, "sio_app_commands_failed_total", "reason", "bad", s->app_failed_bad);

	single(out, "sio_history_channels", "gauge",
	       "Channels with a history (lingering ones too).", s->history_channels);
	single(out, "sio_history_messages", "gauge", "Messages held in the channels' histories.",
	       s->history_messages);
	single(out, "sio_history_bytes", "gauge", "Bytes the histories hold, bookkeeping included.",
	       s->history_bytes);
	single(out, "sio_history_evicted_total", "counter",
	       "Messages dropped from a history by count, bytes or age.", s->history_evicted);
	metric(out, "sio_recoveries_total", "counter",
	       "Recovering subscribes, by answer: served (covered) or refused (the gap's kind).");
	for (int g = 0; g < SIO_HISTORY_GAP_COUNT; g++)
		fprintf(out, "sio_recoveries_total{result=\"%s\",why=\"%s\"} %llu\n",
			g == SIO_HISTORY_COVERED ? "served" : "refused",
			sio_history_gap_name((enum sio_history_gap)g),
			(unsigned long long)s->recoveries[g]);
	single(out, "sio_recovered_messages_total", "counter",
	       "Messages replayed to recovering clients.", s->recovered_messages);
	single(out, "sio_recoveries_from_peers_total", "counter",
	       "Recoveries served from a peer's history (this instance had none).",
	       s->recovered_from_peers);
	single(out, "sio_history_answers_total", "counter",
	       "Peers' requests for a channel's history answered.", s->history_answers);
	single(out, "sio_rebalance_moved_total", "counter",
	       "Connections closed with 1012 to move them to an instance below the average.",
	       s->rebalance_moved);
}
