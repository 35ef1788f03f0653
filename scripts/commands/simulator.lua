-- usage: teehost simulator start|stop|status|env (teehost simulator --help for details)
-- summary: run the dstack guest-agent simulator standalone, for the dstack SDKs and other tools
return require("teehost.simulator_cli")({ ... })
