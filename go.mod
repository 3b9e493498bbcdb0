module odoobus

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	github.com/lib/pq v1.12.3
	github.com/nlpodyssey/gopickle v0.2.0
)
