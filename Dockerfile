# syntax=docker/dockerfile:1
#
# auth0-sync in a container:
#   docker build -t auth0-sync .
#   docker run --rm --env-file .env -v "$PWD/plans:/work/plans" auth0-sync plan
#   docker run --rm --env-file .env -v "$PWD/plans:/work/plans" auth0-sync apply plans/plan-....json
# The image holds no settings and no secrets: pass them with --env-file / -e, or
# mount a .env into /work (the working directory). Plans are written under
# /work/plans, so mount a directory there that UID 10001 can write.

# --- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
# TLS is rustls (aws-lc-rs, built with the image's C compiler) and SQLite is
# bundled: no OpenSSL or other -dev packages are needed.
COPY . .
RUN cargo build --release --locked --bin auth0-sync \
    && install -D -m 0755 target/release/auth0-sync /out/auth0-sync

# --- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: the Auth0 and SQL Server TLS connections verify against the
# system trust store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 auth0sync \
    && useradd --system --uid 10001 --gid auth0sync --home-dir /work \
        --no-create-home --shell /usr/sbin/nologin auth0sync \
    && mkdir -p /work/plans \
    && chown -R auth0sync:auth0sync /work
COPY --from=builder /out/auth0-sync /usr/local/bin/auth0-sync
# Numeric, so that runtimes enforcing "run as non-root" can check it.
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["auth0-sync"]
CMD ["--help"]
