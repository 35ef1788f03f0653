# teehost image: the agent runtime that users build, push and deploy to a Phala Cloud CVM (dstack).
#
#   docker build -t USER/teehost:TAG .        (or: teehost phala docker build -i teehost -t TAG)
#   docker run --rm -p 3000:3000 -v /var/run/dstack.sock:/var/run/dstack.sock USER/teehost:TAG
#   teehost phala docker generate -i USER/teehost:TAG -e .env    (the compose file for a CVM)
#
# Inside a CVM teehost talks to the dstack guest agent on /var/run/dstack.sock, which the compose
# file mounts (dstack creates it with mode 0777, so the non-root user below can connect). Without
# the socket, TEE_MODE decides (see DESIGN.md, "The TEE endpoint"); unset, teehost falls back to
# its built-in simulator, whose quotes are not trusted by Intel's root.

# ---- stage 1: build ------------------------------------------------------------------------------
FROM debian:12-slim AS build

# The build half of scripts/install-deps.sh (its test, benchmark and Node.js packages left out).
# libcmocka-dev and lua-check are test tools, but tests/CMakeLists.txt is always configured and
# requires them; only the teehost target is built.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      liblua5.4-dev libuv1-dev libcurl4-openssl-dev libcjson-dev \
      libsodium-dev libssl-dev libsecp256k1-dev libmicrohttpd-dev libedit-dev \
      libcmocka-dev lua-check \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# The Lua files under scripts/ and characters/ are compiled into the binary: it is the only file
# the runtime stage needs.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target teehost -j "$(nproc)" \
 && strip build/teehost \
 && build/teehost --version

# ---- stage 2: runtime ----------------------------------------------------------------------------
FROM debian:12-slim

# The shared libraries teehost links (liblua5.4-0 libuv1 libcjson1 libedit2 libssl3 libsodium23
# libsecp256k1-1) and the two it loads with dlopen on first use (libcurl4: HTTP client,
# libmicrohttpd12: HTTP server; ldd does not list them). ca-certificates: HTTPS to Phala Cloud,
# PCCS and model APIs.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      liblua5.4-0 libuv1 libcjson1 libedit2 libssl3 libsodium23 libsecp256k1-1 \
      libcurl4 libmicrohttpd12 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/teehost \
      --shell /usr/sbin/nologin teehost

COPY --from=build /src/build/teehost /usr/local/bin/teehost

# Numeric, so that orchestrators can check runAsNonRoot. TEEHOST_HOME (default ~/.teehost) holds
# the simulator's keys when no real TEE is present.
USER 10001:10001
WORKDIR /home/teehost

# The agent's HTTP API.
EXPOSE 3000

# teehost shuts down cleanly (tasks cancelled, connections closed) on SIGINT; as PID 1 it would
# ignore docker's default SIGTERM.
STOPSIGNAL SIGINT

ENTRYPOINT ["teehost"]
# The agent Mr. TEE (characters/mr_tee.lua, compiled into the binary), its REST API on every
# interface of the container so that the published port 3000 reaches it. Another character:
# mount it and pass `start --host 0.0.0.0 --character /path/to/it.lua`.
CMD ["start", "--host", "0.0.0.0", "--character", "characters/mr_tee.lua"]
