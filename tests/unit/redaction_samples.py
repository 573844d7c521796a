"""Secrets of several kinds, shared by the tests that pin the redaction's fast paths to its plain
ones (test_redaction_fast_paths.py, test_redaction_speedpaths.py). All fake."""

URL_KEY = "Xk3vQ9pL2mN7rT4wZ8yB1cD6"
HEX_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
PHRASE = ("abandon ability able about above absent absorb abstract absurd abuse access accident "
          "acid acoustic acquire across act action")
PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
       "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n")
