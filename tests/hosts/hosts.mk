# tests/hosts/: sio-serve instances on hosts made of network namespaces on
# this machine, with real faults (kills, stops, partitions, loss, delay).
# Included by the Makefile; `make test` runs these files with the others,
# `make test-hosts` runs them alone.

# nft drops packets at random (loss); NFQUEUE and nfq-delay hold them
# (delay), as this kernel has no netem; iptables adds the NFQUEUE rule
# where nft's own queue statement is not built in.
TEST_PKGS  += nftables iptables libnetfilter-queue-dev

NFQ_DELAY  := build/tests/nfq-delay
TEST_TOOLS += $(NFQ_DELAY)

$(NFQ_DELAY): tests/hosts/nfq-delay.c
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(OPT) $(SAN) $(CFLAGS) \
	  -o $@ $< $(LDFLAGS) $(shell pkg-config --libs libnetfilter_queue 2>/dev/null || \
	    echo -lnetfilter_queue -lnfnetlink)

.PHONY: test-hosts
test-hosts: deps test-deps
	@$(MAKE) --no-print-directory build $(TEST_TOOLS)
	@SIO_BIN="$(CURDIR)/bin" prove --exec '' $(PROVE_FLAGS) $(sort $(wildcard tests/hosts/*.bats))
