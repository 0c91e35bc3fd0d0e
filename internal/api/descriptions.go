package api

// descriptions holds each operation's description, by "METHOD path".
var descriptions = map[string]string{}
