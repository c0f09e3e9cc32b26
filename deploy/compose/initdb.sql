-- The example subscriber's cache database (the fagsystem's own database in real life).
CREATE DATABASE fagsystem;
