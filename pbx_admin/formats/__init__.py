"""One date and number format per language (FORMAT_MODULE_PATH): every page shows a time as
`dd/mm/yyyy HH:MM` in Vietnamese and `d MMM yyyy HH:MM` in English (never month-first digits),
in Asia/Ho_Chi_Minh, and groups thousands as the language does (20.000 / 20,000). Templates
ask for "DATETIME_FORMAT" / "DATE_FORMAT" (or just print the value); the API stays ISO 8601."""
