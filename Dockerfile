# Not built on the project's own machines (no Docker engine there); kept in
# step with the Makefile. Build: docker build -t hogpipe .
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
COPY server/webdist/.gitkeep ../server/webdist/.gitkeep
RUN npm run build

FROM golang:1.26-bookworm AS api
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/server/webdist ./server/webdist
# modernc.org/sqlite is pure Go: a static binary without cgo.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hogpipe ./cmd/hogpipe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=api /out/hogpipe /usr/local/bin/hogpipe
WORKDIR /var/lib/hogpipe
# Listening on every interface in a container needs webhook authentication:
# pass HOGPIPE_WEBHOOK_SECRET (or HOGPIPE_WEBHOOK_SIGNING_SECRET) and
# HOGPIPE_ADMIN_TOKEN, or hogpipe refuses to start.
ENV PORT=3000 HOGPIPE_DATA_DIR=/var/lib/hogpipe/data HOGPIPE_TRAINING_FILE=/var/lib/hogpipe/training_data.jsonl
EXPOSE 3000
VOLUME ["/var/lib/hogpipe"]
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/hogpipe"]
CMD ["serve"]
