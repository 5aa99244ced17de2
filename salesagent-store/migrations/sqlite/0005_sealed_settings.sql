-- Settings are sealed like documents from now on (a setting may hold a secret, such as the
-- one-click unsubscribe key, or quote a contact): mark the existing values as plaintext
-- (`cli keys encrypt` seals them when a key is configured).
UPDATE settings SET value = 'p:' || value
    WHERE value NOT LIKE 'p:%' AND value NOT LIKE 'e1:%';
