# The generator image: a static binary on distroless, running as non-root.
# Build: docker build -t ghcr.io/preview-generator/generator:$(git describe --tags) .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/generator ./cmd/generator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/generator /generator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/generator"]
CMD ["serve"]
