#!/usr/bin/env bats
# sio-serve speaks the socketiyo wire format (DESIGN.md §2): relay to the
# subscribers of a channel, data byte for byte, frames in order.
#
# "Receives nothing" is shown without waiting on a clock: frames from one
# connection are handled in order, so a client that gets a marker sent
# after the message in question would have got that message first.

load helpers

@test "a message reaches every subscriber of its channel, the publisher too when subscribed" {
	start_serve
	ws_bg s1 "$(sub news)" recv:1
	ws_bg s2 "$(sub news)" "$(sub other)" recv:1
	wait_metric sio_subscriptions 3

	run -0 ws "$(sub news)" "$(pub news '"hello"')" recv:1 close
	assert_line -n 0 '{"channel":"news","data":"hello"}'

	wait_bg s1
	assert_equal "$WAIT_RC" 0
	assert_equal "$(bg_out s1)" '{"channel":"news","data":"hello"}'
	wait_bg s2
	assert_equal "$WAIT_RC" 0
	assert_equal "$(bg_out s2)" '{"channel":"news","data":"hello"}'
	assert_equal "$(metric sio_published_total)" 1
}

@test "connections not subscribed to the channel receive nothing, the publisher neither" {
	start_serve
	ws_bg other "$(sub marker)" recv:1
	ws_bg ready "$(ready)" "$(sub marker)" recv:1
	wait_metric sio_subscriptions 2

	# The publisher is subscribed to the marker channel only.
	run -0 ws "$(sub marker)" "$(pub news 1)" "$(pub marker '"end"')" recv:1 close
	assert_line -n 0 '{"channel":"marker","data":"end"}'

	wait_bg other
	assert_equal "$(bg_out other)" '{"channel":"marker","data":"end"}'
	wait_bg ready
	assert_equal "$(bg_out ready)" '{"channel":"marker","data":"end"}'
}

@test "clients cannot publish on nor subscribe to the default channel" {
	start_serve
	# Every connection would receive the default channel without subscribing.
	ws_bg listener "$(ready)" "$(sub marker)" recv:1
	wait_metric sio_subscriptions 1

	run -0 ws "$(ready)" "$(sub '')" "$(pub '' '"to everyone"')" "$(sub marker)" \
		"$(pub marker '"end"')" recv:1 close
	assert_line -n 0 '{"channel":"marker","data":"end"}'
	wait_bg listener
	assert_equal "$(bg_out listener)" '{"channel":"marker","data":"end"}'

	wait_metric 'sio_rejected_frames_total{error="VALIDATE_CHANNEL_ERROR"}' 2
	assert_equal "$(metric sio_subscriptions)" 0
	assert_equal "$(metric sio_published_total)" 1
	assert_equal "$(log_count 'VALIDATE_CHANNEL_ERROR')" 2
}

@test "unsubscribe stops delivery on that channel only" {
	start_serve
	run -0 ws "$(sub a)" "$(sub b)" "$(pub a 1)" "$(unsub a)" "$(pub a 2)" "$(pub b 3)" \
		recv:2 close
	assert_line -n 0 '{"channel":"a","data":1}'
	assert_line -n 1 '{"channel":"b","data":3}'
	refute_line '{"channel":"a","data":2}'
}

@test "unsubscribe stops delivery of another connection's messages" {
	start_serve
	ws_bg s "$(sub a)" "$(sub b)" recv:1 "$(unsub a)" recv:1
	wait_metric sio_subscriptions 2
	run -0 ws "$(pub a 1)" close
	wait_for bg_printed s '"data":1'
	wait_metric sio_subscriptions 1
	run -0 ws "$(pub a 2)" "$(pub b 3)" close
	wait_bg s
	assert_equal "$WAIT_RC" 0
	assert_equal "$(bg_out s)" $'{"channel":"a","data":1}\n{"channel":"b","data":3}'
}

@test "data of every JSON type arrives byte for byte, wrapped as channel and data" {
	local values=(
		'"text"' '""' '0' '-17' '3.14' '2.50' '-0.0e+10' '1E5'
		'123456789012345678901234567890'
		'true' 'false' 'null' '[]' '{}'
		'[1,"two",{"three":[3]},null,true]'
		'{"b":1,"a":{"nested":[false,{"deep":"er"}]}}'
		'[1, 2 ,	3 ]'
		'{ "spaced" : "out" }'
		'"é ü ß 中文 🎉 𝄞"'
		'"\u00e9\n\t\"q\" \\ \/ \ud83c\udf89"'
		'"a\u0000b"'
	)
	local steps=("$(sub d)") v
	for v in "${values[@]}"; do
		steps+=("$(pub d "$v")")
	done
	start_serve
	run -0 ws "${steps[@]}" "recv:${#values[@]}" close
	local i
	for i in "${!values[@]}"; do
		assert_equal "${lines[i]}" "{\"channel\":\"d\",\"data\":${values[i]}}"
	done
	assert_equal "$(metric sio_published_total)" "${#values[@]}"
}

@test "data keeps its bytes whatever the member order, spacing and extra members" {
	start_serve
	run -0 ws "$(sub d)" \
		'text:{"data":["first"],"channel":"d"}' \
		'text: { "channel" : "d" , "data" : {"k": [1,2]} , "extra" : true } ' \
		'text:{"channel":"d","data":"é","action2":null}' \
		recv:3 close
	assert_line -n 0 '{"channel":"d","data":["first"]}'
	assert_line -n 1 '{"channel":"d","data":{"k": [1,2]}}'
	assert_line -n 2 '{"channel":"d","data":"é"}'
}

@test "a number beyond the range of a double (1e400) is a documented MESSAGE_FORMAT_ERROR" {
	# JavaScript reads it as Infinity; jansson refuses it, and sio says so
	# (sio-serve(1), BUGS) rather than relay a value it could not check.
	start_serve
	run -0 ws "$(sub d)" "$(pub d 1e400)" "$(pub d '"after"')" recv:1 close
	assert_line -n 0 '{"channel":"d","data":"after"}'
	wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1
}

@test "channel names in UTF-8 are relayed" {
	start_serve
	run -0 ws "$(sub 'ça-va_€')" "$(pub 'ça-va_€' 1)" recv:1 close
	assert_line -n 0 '{"channel":"ça-va_€","data":1}'
}

@test "binary frames holding JSON are accepted and relayed as text" {
	start_serve
	run -0 ws 'binary:{"action":"CLIENT_READY","channel":""}' \
		'binary:{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"bin"}' \
		'binary:{"channel":"bin","data":{"é":[1,2]}}' recv:1 close
	assert_line -n 0 '{"channel":"bin","data":{"é":[1,2]}}'
	assert_equal "$(metric sio_ready_clients)" 0
	assert_equal "$(metric sio_published_total)" 1
	assert_equal "$(metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}')" 0
}

@test "fragmented messages are put together, also when a fragment ends inside a UTF-8 character" {
	local msg='{"channel":"frag","data":"ééééé €€€ 🎉🎉 ééééé"}' n steps=()
	for n in 2 3 4 5 6 7 9 13; do
		steps+=("frag:$n:$msg")
	done
	start_serve
	run -0 ws "frag:3:$(sub frag | cut -d: -f2-)" "${steps[@]}" recv:${#steps[@]} close
	assert_equal "${#lines[@]}" $((${#steps[@]} + 1))
	for n in "${!steps[@]}"; do
		assert_equal "${lines[n]}" '{"channel":"frag","data":"ééééé €€€ 🎉🎉 ééééé"}'
	done
	assert_equal "$(metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}')" 0
}

@test "a control frame between fragments does not break the message" {
	start_serve
	run -0 ws "$(sub c)" \
		"$(rawframe 01 "$(hexof '{"channel":"c",')")" \
		"$(rawframe 89 '')" \
		"$(rawframe 80 "$(hexof '"data":1}')")" \
		recv:1 close
	assert_line -n 0 '{"channel":"c","data":1}'
}

@test "the order of messages from one connection is kept (200 numbered messages)" {
	local steps=() i expected=()
	for i in $(seq 1 200); do
		steps+=("$(pub order "$i")")
		expected+=("{\"channel\":\"order\",\"data\":$i}")
	done
	start_serve
	ws_bg s "$(sub order)" recv:200
	wait_metric sio_subscriptions 1
	run -0 ws "$(sub order)" "${steps[@]}" recv:200 close
	local want
	want=$(printf '%s\n' "${expected[@]}")
	assert_equal "$(head -n 200 <<<"$output")" "$want"
	wait_bg s
	assert_equal "$WAIT_RC" 0
	assert_equal "$(bg_out s)" "$want"
	assert_equal "$(metric sio_published_total)" 200
}

@test "CLIENT_READY is counted once per connection (sio_ready_clients)" {
	start_serve
	ws_bg r1 "$(ready)" sleep:60
	ws_bg r2 "$(ready)" "$(ready)" sleep:60
	ws_bg plain sleep:60
	wait_metric sio_clients 3
	wait_metric sio_ready_clients 2
	stop_bg r1
	wait_metric sio_ready_clients 1
	wait_metric sio_clients 2
	stop_bg plain
	wait_metric sio_clients 1
	assert_equal "$(metric sio_ready_clients)" 1
}

@test "--no-relay: client messages are accepted but reach no subscriber" {
	start_serve --no-relay
	run -0 ws "$(sub a)" "$(pub a 1)" "$(pub a 2)" close
	wait_metric sio_published_total 2
	assert_equal "$(metric sio_frames_sent_total)" 0
	assert_equal "$(metric sio_queued_bytes)" 0
	refute_output --partial '"data"'
}
