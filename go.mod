module odoobus

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/lib/pq v1.12.3 // indirect
	github.com/nlpodyssey/gopickle v0.2.0 // indirect
	gopkg.in/ini.v1 v1.67.3 // indirect
)
