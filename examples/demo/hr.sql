-- The demo's HR table. hr.sqlite is built from this file:
--   rm -f hr.sqlite && sqlite3 hr.sqlite < hr.sql   (or python3 -c "import sqlite3;sqlite3.connect('hr.sqlite').executescript(open('hr.sql').read())")
CREATE TABLE employees (
    id          INTEGER PRIMARY KEY,
    email       TEXT,
    role        TEXT,
    name        TEXT,
    given_name  TEXT,
    family_name TEXT,
    department  TEXT,
    active      INTEGER NOT NULL DEFAULT 1
);
INSERT INTO employees (email, role, name, given_name, family_name, department, active) VALUES
  ('alice@acme.example',      'admin',   'Alice Martin',   'Alice', 'Martin',   'IT',      1),
  (' Bob@ACME.example ',      'editor',  'Bob Chen',       'Bob',   'Chen',     'Content', 1),
  ('bob@acme.example',        'viewer',  'Bob Chen',       'Bob',   'Chen',     'Content', 1),
  ('carol@acme.example',      'billing', 'Carol Diaz',     'Carol', 'Diaz',     'Finance', 1),
  ('dave@acme.example',       'viewer',  'Dave Okafor',    'Dave',  'Okafor',   'Sales',   0),
  ('grace@acme.example',      'editor',  'Grace Hopper',   'Grace', 'Hopper',   'R&D',     1),
  ('grace@acme.example',      'viewer',  'Grace B. Hopper','Grace', 'Hopper',   'R&D',     1),
  ('heidi@acme.example',      NULL,      'Heidi Schulz',   'Heidi', 'Schulz',   'Legal',   1),
  ('ivan@acme.example',       'billing', 'Ivan Petrov',    'Ivan',  'Petrov',   'Finance', 1),
  ('judy.acme.example',       'viewer',  'Judy Typo',      'Judy',  'Typo',     'Sales',   1),
  ('zoe@acme.example',        'viewer',  'Zoë Ångström',   'Zoë',   'Ångström', 'Design',  1);
