# odoobus image: two static binaries (odoobus and its health probe) on
# distroless "static" (CA certificates, tzdata, no shell, no libc).
#
#   docker build --build-arg VERSION=$(git describe --always) -t odoobus .
#   docker run -v /etc/odoo/odoo.conf:/etc/odoo/odoo.conf:ro \
#              -v odoo-data:/var/lib/odoo -p 8072:8072 odoobus
#
# The process runs as uid/gid 101, the `odoo` user of the official Odoo image,
# so it reads the session files Odoo writes (Odoo creates <data_dir>/sessions
# with mode 0700: odoo/tools/config.py session_dir) and Odoo reads the public
# sessions odoobus writes. On a host where Odoo runs under another uid, build
# with --build-arg ODOO_UID=… --build-arg ODOO_GID=… (or `docker run --user`).
# Plain classic-builder syntax (no RUN --mount) so docker-compose v1 builds it too.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG ODOO_UID=101
ARG ODOO_GID=101
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/bin/odoobus . \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/bin/healthcheck ./cmd/healthcheck \
 && mkdir -p /out/data/sessions \
 && chmod 0700 /out/data/sessions

FROM gcr.io/distroless/static-debian12
ARG ODOO_UID=101
ARG ODOO_GID=101
COPY --from=build /out/bin/ /usr/local/bin/
# data_dir owned by Odoo's uid: a fresh named volume mounted here takes this
# ownership, whichever container mounts it first.
COPY --from=build --chown=${ODOO_UID}:${ODOO_GID} /out/data/ /var/lib/odoo/
# Same variable and path as the official Odoo image: odoobus finds odoo.conf
# through ODOO_RC exactly as odoo-bin does (config/file.go).
ENV ODOO_RC=/etc/odoo/odoo.conf
USER ${ODOO_UID}:${ODOO_GID}
# gevent_port (Odoo's default 8072); odoobus listens on http_interface:gevent_port.
EXPOSE 8072
# SIGTERM: odoobus closes every websocket with 1001 GOING_AWAY (the web client
# reconnects) and exits 0 within 10 s; give `docker stop -t` at least 15.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8072/websocket/health"]
ENTRYPOINT ["/usr/local/bin/odoobus"]
