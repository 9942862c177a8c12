#!/usr/bin/env bats
# Validation of client frames (DESIGN.md §2): a rejected frame is dropped,
# counted and logged, and the connection stays open; only a connection that
# keeps sending rejected frames (1008), a frame above the hard cap (1009) or
# a text frame that is not UTF-8 (1007) is closed.

load helpers

# assert_rejected ERROR STEP...: each step sends one frame that must be
# rejected with ERROR: nothing of it comes back, the connection still relays
# a valid message afterwards, the counter and the log count every frame.
assert_rejected() {
	local error=$1
	shift
	run -0 ws "$(sub ok)" "$@" "$(pub ok '"still open"')" recv:1 close
	assert_line -n 0 '{"channel":"ok","data":"still open"}'
	assert_line -n 1 'CLOSE 1000 '
	wait_metric "sio_rejected_frames_total{error=\"$error\"}" $#
	assert_equal "$(log_count ": $error id=[^ ]+ conn=[0-9]+ reason=\"[^\"]+\"")" $#
	local other
	for other in VALIDATE_MESSAGE_ERROR MESSAGE_FORMAT_ERROR VALIDATE_CHANNEL_ERROR \
		MAX_CHANNELS_ERROR; do
		[[ $other == "$error" ]] && continue
		assert_equal "$(metric "sio_rejected_frames_total{error=\"$other\"}")" 0
	done
	assert_equal "$(metric 'sio_closed_total{reason="policy"}')" 0
}

xs() { printf 'x%.0s' $(seq 1 "$1"); }

@test "VALIDATE_MESSAGE_ERROR: a frame of max_length bytes or more is dropped, the connection stays open" {
	start_serve --max-length 128 --id v1
	# bigjson:N is {"channel":"c","data":"xx..."} of N bytes in all.
	local fits="{\"channel\":\"c\",\"data\":\"$(xs 102)\"}"
	assert_equal "${#fits}" 127
	run -0 ws "$(sub c)" bigjson:128 bigjson:127 bigjson:4000 "$(pub c '"ok"')" recv:2 close
	assert_line -n 0 "$fits"
	assert_line -n 1 '{"channel":"c","data":"ok"}'
	wait_metric 'sio_rejected_frames_total{error="VALIDATE_MESSAGE_ERROR"}' 2
	assert_equal "$(log_count ': VALIDATE_MESSAGE_ERROR id=v1 conn=1 reason="message too long"')" 2
}

@test "VALIDATE_MESSAGE_ERROR: the same frame in fragments is dropped too" {
	start_serve --max-length 128
	run -0 ws "$(sub c)" "frag:4:{\"channel\":\"c\",\"data\":\"$(xs 200)\"}" "$(pub c '"ok"')" \
		recv:1 close
	assert_line -n 0 '{"channel":"c","data":"ok"}'
	wait_metric 'sio_rejected_frames_total{error="VALIDATE_MESSAGE_ERROR"}' 1
}

@test "MESSAGE_FORMAT_ERROR: not JSON" {
	start_serve
	assert_rejected MESSAGE_FORMAT_ERROR 'text:nope' 'text:{"channel":"c","data":' \
		"text:{'channel':'c','data':1}" 'text:' 'text:{"channel":"c","data":1} trailing'
	log_has 'MESSAGE_FORMAT_ERROR .*reason="not JSON"'
}

@test "MESSAGE_FORMAT_ERROR: not an object" {
	start_serve
	assert_rejected MESSAGE_FORMAT_ERROR 'text:[{"channel":"c","data":1}]' 'text:"str"' \
		'text:42' 'text:null'
}

@test "MESSAGE_FORMAT_ERROR: no channel, or a channel that is not a string" {
	start_serve
	assert_rejected MESSAGE_FORMAT_ERROR 'text:{"data":1}' \
		'text:{"action":"SUBSCRIBE_CHANNEL_ACTION"}' 'text:{"channel":7,"data":1}' \
		'text:{"channel":null,"data":1}'
	log_has 'MESSAGE_FORMAT_ERROR .*reason="no channel"'
}

@test "MESSAGE_FORMAT_ERROR: neither data nor action, or an unknown action" {
	start_serve
	assert_rejected MESSAGE_FORMAT_ERROR 'text:{"channel":"c"}' 'text:{"channel":"c","other":1}' \
		'text:{"channel":"c","action":"PUBLISH"}' 'text:{"channel":"c","action":5}'
	log_has 'MESSAGE_FORMAT_ERROR .*reason="neither data nor action"'
}

@test "MESSAGE_FORMAT_ERROR: invalid UTF-8 in a binary frame, the connection stays open" {
	start_serve
	# Binary frames are not text to RFC 6455 (ws does not check them); as
	# JSON, what is not UTF-8 in them does not parse.
	assert_rejected MESSAGE_FORMAT_ERROR \
		"$(rawframe 82 "$(hexof '{"channel":"c","data":"')ff$(hexof '"}')")" \
		"$(rawframe 82 "$(hexof '{"channel":"c","data":"')eda080$(hexof '"}')")"
}

@test "invalid UTF-8 in a text frame closes the connection with 1007 (RFC 6455 8.1), not a rejected frame" {
	start_serve
	local payload
	for payload in "$(hexof '{"channel":"c","data":"')fffe$(hexof '"}')" \
		"$(hexof '{"channel":"c","data":"')c0af$(hexof '"}')" \
		"$(hexof '{"channel":"c","data":"')eda080$(hexof '"}')" \
		"$(hexof '{"channel":"')e282$(hexof '","data":1}')"; do
		run -0 ws "$(sub ok)" "hex:$payload" "$(pub ok '"lost"')" recv:1
		assert_output 'CLOSE 1007 invalid UTF-8'
	done
	wait_metric 'sio_closed_total{reason="invalid_utf8"}' 4
	assert_equal "$(metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}')" 0
	assert_equal "$(metric sio_published_total)" 0
}

@test "VALIDATE_CHANNEL_ERROR: a channel of max_channel_length bytes or more, or the default channel" {
	start_serve --max-channel-length 8
	assert_rejected VALIDATE_CHANNEL_ERROR \
		"$(sub 12345678)" "$(pub 12345678 1)" "$(unsub 12345678)" \
		"$(sub éééé)" \
		"$(sub '')" "$(pub '' 1)" "$(unsub '')" \
		'text:{"channel":"a\u0000b","data":1}'
	log_has 'VALIDATE_CHANNEL_ERROR .*reason="channel name too long"'
	log_has 'VALIDATE_CHANNEL_ERROR .*reason="the default channel is reserved to the service side"'
}

@test "VALIDATE_CHANNEL_ERROR: a channel just below the limit is fine, CLIENT_READY is not checked" {
	start_serve --max-channel-length 8
	run -0 ws 'text:{"action":"CLIENT_READY","channel":"longer than eight"}' \
		"$(sub 1234567)" "$(sub ééé)" "$(pub 1234567 1)" "$(pub ééé 2)" recv:2 close
	assert_line -n 0 '{"channel":"1234567","data":1}'
	assert_line -n 1 '{"channel":"ééé","data":2}'
	assert_equal "$(metric 'sio_rejected_frames_total{error="VALIDATE_CHANNEL_ERROR"}')" 0
}

@test "MAX_CHANNELS_ERROR: a subscribe beyond max_channels is dropped, the connection stays open" {
	start_serve --max-channels 2 --id mc
	run -0 ws "$(sub a)" "$(sub b)" "$(sub a)" "$(sub c)" "$(pub c '"lost"')" "$(pub a '"kept"')" \
		recv:1 close
	assert_line -n 0 '{"channel":"a","data":"kept"}'
	wait_metric 'sio_rejected_frames_total{error="MAX_CHANNELS_ERROR"}' 1
	assert_equal "$(log_count ': MAX_CHANNELS_ERROR id=mc conn=1 reason=')" 1
}

@test "MAX_CHANNELS_ERROR: the limit counts current subscriptions, per connection" {
	start_serve --max-channels 2
	ws_bg other "$(sub x)" "$(sub y)" sleep:60
	wait_metric sio_subscriptions 2
	run -0 ws "$(sub a)" "$(sub b)" "$(unsub b)" "$(sub c)" "$(pub c '"c"')" recv:1 close
	assert_line -n 0 '{"channel":"c","data":"c"}'
	assert_equal "$(metric 'sio_rejected_frames_total{error="MAX_CHANNELS_ERROR"}')" 0
}

@test "a flood of 1000 bad frames from several connections makes few log lines" {
	start_serve --max-rejects 1000000
	local i
	for i in 1 2 3 4; do
		ws_bg flood$i repeat:250:nope close
	done
	SIO_WAIT=30 wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1000
	for i in 1 2 3 4; do
		wait_bg flood$i
		assert_equal "$WAIT_RC" 0
	done
	local logged
	logged=$(log_count ': MESSAGE_FORMAT_ERROR ')
	echo "logged $logged lines of 1000"
	((logged >= 1 && logged <= 100))
	assert_equal "$(metric 'sio_closed_total{reason="policy"}')" 0
}

# The summary must not wait for a next bad frame that may never come.
@test "after a flood of bad frames stops, LOG_SUPPRESSED reports the lines held back" {
	start_serve --max-rejects 1000000
	local i
	for i in 1 2 3 4; do
		ws_bg flood$i repeat:250:nope close
	done
	SIO_WAIT=30 wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1000
	# The rate limit works in windows of a second: its summary is due soon after.
	SIO_WAIT=5 wait_log ': LOG_SUPPRESSED id=[^ ]+ lines=[0-9]+'
	(($(metric sio_log_suppressed_total) > 0))
}

# One more bad frame on a new connection (serial 4 + POKES: the flood took
# 1 to 4); true when its own line was logged. A logged line means its window
# had suppressed nothing before it, and that the window before has been
# summed up: from then on, every rejected frame is accounted for.
_poke_logged() {
	POKES=$((POKES + 1))
	ws 'text:poke' close >/dev/null
	log_has ": MESSAGE_FORMAT_ERROR id=[^ ]+ conn=$((4 + POKES)) "
}

@test "every rejected frame is either logged or counted in LOG_SUPPRESSED" {
	start_serve --max-rejects 1000000
	local i
	for i in 1 2 3 4; do
		ws_bg flood$i repeat:250:nope close
	done
	SIO_WAIT=30 wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1000
	for i in 1 2 3 4; do
		wait_bg flood$i
	done
	POKES=0
	wait_for _poke_logged
	log_has ': LOG_SUPPRESSED id=[^ ]+ lines=[0-9]+'
	local rejected logged suppressed
	rejected=$(metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}')
	logged=$(log_count ': MESSAGE_FORMAT_ERROR ')
	suppressed=$(awk '/: LOG_SUPPRESSED / { for (i = 1; i <= NF; i++)
		if (sub(/^lines=/, "", $i)) n += $i } END { print n + 0 }' "$SERVE_LOG")
	echo "rejected=$rejected logged=$logged suppressed=$suppressed pokes=$POKES"
	assert_equal "$rejected" $((1000 + POKES))
	assert_equal $((logged + suppressed)) "$rejected"
	assert_equal "$(metric sio_log_suppressed_total)" "$suppressed"
	((logged < rejected / 5))
}

@test "a connection over --max-rejects per --reject-interval is closed with 1008, others are not" {
	start_serve --max-rejects 3 --reject-interval 60 --id pol
	ws_bg patient "$(sub c)" text:bad1 text:bad2 text:bad3 recv:1 sleep:60
	wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 3
	run -0 ws "$(sub c)" text:bad1 text:bad2 text:bad3 "$(pub c '"open"')" recv:1 \
		text:bad4 expect-close
	assert_line -n 0 '{"channel":"c","data":"open"}'
	assert_line -n 1 'CLOSE 1008 too many rejected frames'
	wait_log ': POLICY_CLOSE id=pol conn=2 '
	wait_for metric_is 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 7
	# The first connection, 3 rejects and no more, is still there.
	wait_for bg_printed patient '"data":"open"'
	wait_metric sio_clients 1
	pid_gone "${BG[patient]}" && fail "the patient connection was closed"
	true
}

@test "MAX_CHANNELS_ERROR counts toward --max-rejects too" {
	start_serve --max-rejects 2 --max-channels 1
	run -0 ws "$(sub a)" "$(sub b)" "$(sub c)" "$(sub d)" expect-close
	assert_line -n 0 'CLOSE 1008 too many rejected frames'
}

@test "a frame of exactly --hard-max-length bytes is rejected, not closed" {
	start_serve --max-length 1K --hard-max-length 8K
	run -0 ws "$(sub c)" big:8192 "$(pub c '"open"')" recv:1 close
	assert_line -n 0 '{"channel":"c","data":"open"}'
	wait_metric 'sio_rejected_frames_total{error="VALIDATE_MESSAGE_ERROR"}' 1
	assert_equal "$(metric 'sio_closed_total{reason="too_big"}')" 0
}

@test "a frame above --hard-max-length closes the connection with 1009" {
	start_serve --max-length 1K --hard-max-length 8K --id big
	# Left open, the connection would get its own message back first.
	run -0 ws "$(sub c)" big:8193 "$(pub c '"lost"')" recv:1
	assert_line -n 0 'CLOSE 1009 message too big'
	run -0 ws big:100000 expect-close
	assert_line -n 0 'CLOSE 1009 message too big'
	assert_equal "$(log_count ': MESSAGE_TOO_BIG id=big conn=[0-9]+ ')" 2
	assert_equal "$(metric 'sio_rejected_frames_total{error="VALIDATE_MESSAGE_ERROR"}')" 0
}

@test "a message above --hard-max-length in fragments closes the connection with 1009" {
	start_serve --max-length 1K --hard-max-length 8K
	run -0 ws "$(sub c)" "frag:5:$(xs 9000)" "$(pub c '"lost"')" recv:1
	assert_line -n 0 'CLOSE 1009 message too big'
}

@test "a frame above --hard-max-length read in one piece closes the connection with 1009" {
	start_serve --max-length 64 --hard-max-length 128
	run -0 ws "$(sub c)" big:200 "$(pub c '"lost"')" recv:1
	assert_line -n 0 'CLOSE 1009 message too big'
}

@test "sio_closed_total counts each closed connection once" {
	start_serve --max-rejects 1 --max-length 1K --hard-max-length 4K
	run -0 ws text:bad1 text:bad2 expect-close
	assert_line -n 0 'CLOSE 1008 too many rejected frames'
	run -0 ws big:10000 expect-close
	assert_line -n 0 'CLOSE 1009 message too big'
	run -0 ws close
	wait_metric 'sio_connections_total{result="accepted"}' 3
	wait_metric sio_clients 0
	assert_equal "$(metric 'sio_closed_total{reason="client"}')" 1
	assert_equal "$(metric 'sio_closed_total{reason="policy"}')" 1
	assert_equal "$(metric 'sio_closed_total{reason="too_big"}')" 1
}
