// An Express application for ebpfred's real-world tests (internal/testserver
// StartExpress): GET /users/:id answers 200 with JSON, POST /users 201,
// DELETE /users/:id 204, GET /status/:code that status, anything else
// Express's own 404. Listens on 127.0.0.1, a free port, printed as
// "LISTENING <port>".
'use strict';
const express = require('express');
const app = express();
app.use(express.json());
app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
app.post('/users', (req, res) => res.status(201).json({ created: true }));
app.delete('/users/:id', (req, res) => res.status(204).end());
app.get('/status/:code', (req, res) => res.status(Number(req.params.code)).send('status ' + req.params.code + '\n'));
const server = app.listen(0, '127.0.0.1', () => {
  console.log('LISTENING ' + server.address().port);
});
