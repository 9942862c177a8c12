#!/usr/bin/env bats
# Recovery (sio(7) RECOVERY) on loopback: a client that asked for positions
# and comes back to another instance with the last one it got receives
# exactly what it missed, in order, then live messages; a gap the history
# cannot cover is reported at once, before anything else; a client that
# does not ask sees the reference's frames, byte for byte.
#
# The client is tests/helpers/wsraw.py speaking the frames by hand, so that
# every frame on the wire is seen; the browser module's own use of them runs
# in tests/hosts/recovery.bats. Waits poll to deadlines; no timing decides.

load helpers
load mesh

ready_frame='text:{"action":"CLIENT_READY","channel":""}'

# resume_frame NAME: the recovering subscribe to "r" for what NAME printed
# last: its position on the channel ({"t":..,"o":{origin:[boot,seq]}}).
resume_frame() {
	python3 - "$BATS_TEST_TMPDIR/$1.out" <<'EOF'
import json, sys
t, o = 0, {}
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if 'pos' in m:
        origin, boot, seq, stamp = m['pos']
        o[origin] = [boot, seq]
        t = max(t, stamp)
    elif m.get('action') in ('RECOVERED', 'RECOVERY_GAP'):
        t = max(t, m['data']['t'])
print('text:' + json.dumps({"action": "SUBSCRIBE_CHANNEL_ACTION", "channel": "r",
                            "recover": {"t": t, "o": o}}))
EOF
}

# client NAME INSTANCE STEPS...: wsraw on INSTANCE in the background.
client() {
	local name=$1 inst=$2
	shift 2
	python3 "$WSRAW" --timeout 10 "${IURL[$inst]}" "$ready_frame" "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

# pub_numbers INSTANCE FIRST LAST: a client of INSTANCE publishes FIRST..LAST on "r".
pub_numbers() { publish "$1" r $(seq "$2" "$3") >/dev/null; }

# data_of NAME: the data of the frames NAME got on "r", one a line.
data_of() { sed -nE 's/^\{"channel":"r","data":([0-9]+)(,"pos":.*)?\}$/\1/p' "$BATS_TEST_TMPDIR/$1.out"; }

has_lines() { (($(data_of "$1" | wc -l) >= $2)); }

setup() {
	instance A --history-messages 4
	instance B --bus-peer "${IBUS[A]}" --history-messages 4
	wait_mesh 1 A B
	# Subscribers that stay: both instances keep a history of "r".
	subscriber stayA A r
	subscriber stayB B r
	await_relay A r stayA stayB
}

@test "a client resumes on another instance with exactly what it missed, then live" {
	client x A "text:{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"r\",\"recover\":true}" recv:4
	wait_imetric A sio_subscriptions 2
	pub_numbers A 1 3
	wait_bg x
	assert_equal "$(data_of x | tr '\n' ' ')" "1 2 3 "
	# Every frame to it carried its position; the first said RECOVERED.
	run grep -c '"pos":\["A",' "$BATS_TEST_TMPDIR/x.out"
	assert_output 3
	# Away: 4 and 5 go by.
	pub_numbers A 4 5
	wait_for has_lines stayB 5
	client y B "$(resume_frame x)" recv:3 hold:1
	wait_for grep -q '"action":"RECOVERED"' "$BATS_TEST_TMPDIR/y.out"
	pub_numbers A 6 6
	wait_bg y
	assert_equal "$(data_of y | tr '\n' ' ')" "4 5 6 "
	run grep -c RECOVERY_GAP "$BATS_TEST_TMPDIR/y.out"
	assert_output 0
	# The replayed frames come before RECOVERED, the live one after it.
	run sed -n '1,3p' "$BATS_TEST_TMPDIR/y.out"
	assert_line --index 0 --partial '"data":4,"pos":["A",'
	assert_line --index 1 --partial '"data":5,"pos":["A",'
	assert_line --index 2 '{"channel":"r","action":"RECOVERED","data":{"count":2,"t":'"$(sed -nE 's/.*"RECOVERED","data":\{"count":2,"t":([0-9]+)\}\}/\1/p' "$BATS_TEST_TMPDIR/y.out")"'}}'
	assert_equal "$(imetric B 'sio_recoveries_total{result="served",why="covered"}')" 1
	assert_equal "$(imetric B sio_recovered_messages_total)" 2
}

@test "a gap beyond the history is told at once, then what is held comes" {
	client x A "text:{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"r\",\"recover\":true}" recv:2
	wait_imetric A sio_subscriptions 2
	pub_numbers A 1 1
	wait_bg x
	# Seven go by; B holds the last four.
	pub_numbers A 2 8
	wait_for has_lines stayB 8
	client y B "$(resume_frame x)" recv:5
	wait_bg y
	run cat "$BATS_TEST_TMPDIR/y.out"
	assert_line --index 0 --regexp '^\{"channel":"r","action":"RECOVERY_GAP","data":\{"why":"evicted","t":[0-9]+\}\}$'
	assert_equal "$(data_of y | tr '\n' ' ')" "5 6 7 8 "
	assert_equal "$(imetric B 'sio_recoveries_total{result="refused",why="evicted"}')" 1
}

@test "an instance without a history of the channel gets it from a peer" {
	instance C --bus-peer "${IBUS[A]}"
	wait_mesh 2 A B C
	client x A "text:{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"r\",\"recover\":true}" recv:2
	wait_imetric A sio_subscriptions 2
	pub_numbers A 1 1
	wait_bg x
	pub_numbers A 2 3
	wait_for has_lines stayB 3
	# C never had "r": it asks A and B, and replays what one of them holds.
	client y C "$(resume_frame x)" recv:3
	wait_bg y
	assert_equal "$(data_of y | tr '\n' ' ')" "2 3 "
	run grep -c RECOVERY_GAP "$BATS_TEST_TMPDIR/y.out"
	assert_output 0
	assert_equal "$(imetric C sio_recoveries_from_peers_total)" 1
}

@test "when no instance holds the gap, the client is told, after the peers said so" {
	instance C --bus-peer "${IBUS[A]}"
	wait_mesh 2 A B C
	# A position older than every history there is.
	client y C 'text:{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"r","recover":{"t":1,"o":{"Z":[1,5]}}}' recv:2
	wait_bg y
	run cat "$BATS_TEST_TMPDIR/y.out"
	assert_line --index 0 --regexp '^\{"channel":"r","action":"RECOVERY_GAP","data":\{"why":"no_history","t":[0-9]+\}\}$'
	assert_line --index 1 --regexp '^\{"channel":"r","action":"RECOVERED","data":\{"count":0,"t":[0-9]+\}\}$'
	assert_equal "$(imetric C 'sio_recoveries_total{result="refused",why="no_history"}')" 1
	assert_equal "$(imetric A sio_history_answers_total)" 1
}

@test "a malformed position is a gap, never a crash" {
	client y B 'text:{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"r","recover":{"t":-1,"o":[]}}' recv:2
	wait_bg y
	run cat "$BATS_TEST_TMPDIR/y.out"
	assert_line --index 0 --partial '"why":"bad_position"'
	# B still serves.
	imetric B sio_clients >/dev/null
}

@test "a client that does not ask sees the reference's frames, nothing more" {
	client p A 'text:{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"r"}' recv:2
	wait_imetric A sio_subscriptions 2
	pub_numbers B 1 2
	wait_bg p
	run cat "$BATS_TEST_TMPDIR/p.out"
	assert_output $'{"channel":"r","data":1}\n{"channel":"r","data":2}'
	# Nor did the subscribers that never asked.
	run grep -l -e '"pos"' -e RECOVER "$BATS_TEST_TMPDIR/stayA.out" "$BATS_TEST_TMPDIR/stayB.out"
	assert_output ""
}

@test "a channel keeps its history and its relay for history_age after its last subscriber, then lets both go" {
	instance C --bus-peer "${IBUS[A]}" --history-age 3
	wait_mesh 2 A B C
	subscriber onC C r
	await_relay A r onC
	client x C "text:{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"r\",\"recover\":true}" recv:2
	wait_imetric C sio_subscriptions 2
	pub_numbers A 1 1
	wait_bg x
	stop_bg onC
	wait_imetric C sio_subscriptions 0
	# No subscriber, but the channel's history goes on, fed by the relay.
	local before
	before=$(imetric C sio_history_messages)
	pub_numbers A 2 3
	wait_for imetric_is C sio_history_messages $((before + 2))
	# A client back within the age resumes from it, nothing missing.
	client y C "$(resume_frame x)" recv:3
	wait_bg y
	assert_equal "$(data_of y | tr '\n' ' ')" "2 3 "
	run grep -c RECOVERY_GAP "$BATS_TEST_TMPDIR/y.out"
	assert_output 0
	# After the age with nobody, it goes, and so does C's interest: A no
	# longer relays r to C.
	wait_for imetric_is C sio_history_channels 0
	local relayed
	relayed=$(imetric C 'sio_relay_total{direction="in"}')
	pub_numbers A 4 5
	wait_for has_lines stayB 5
	assert_equal "$(imetric C 'sio_relay_total{direction="in"}')" "$relayed"
}
