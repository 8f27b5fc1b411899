"""The demo a newcomer runs: ``healthbook demo`` seeds facilities, slots, citizens' records and
clients into the embedded service, and ``healthbook demo --walkthrough`` tells the whole story
over HTTP (see README, "The demo")."""
