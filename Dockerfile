# apoyo in a container, for docker-compose.yml. Build: docker build -t apoyo .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /apoyo ./cmd/apoyo

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /apoyo /usr/local/bin/apoyo
USER 65534
ENTRYPOINT ["apoyo"]
