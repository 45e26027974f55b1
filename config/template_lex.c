/*
 * config: the lexer of the claim templates, a port of Go's
 * text/template/parse/lex.go with the default delimiters "{{" "}}", no
 * comment items (text/template does not ask for them) and break/continue
 * as keywords (no function shadows them). Each state of Go's state machine
 * is a function here that returns the next state; a state that has an item
 * ready returns LS_EMIT.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "template_int.h"

#define EOF_RUNE (-1)

enum lstate {
	LS_EMIT,
	LS_TEXT,
	LS_LEFT_DELIM,
	LS_COMMENT,
	LS_RIGHT_DELIM,
	LS_INSIDE,
	LS_SPACE,
	LS_IDENTIFIER,
	LS_FIELD,
	LS_VARIABLE,
	LS_CHAR,
	LS_NUMBER,
	LS_QUOTE,
	LS_RAW_QUOTE,
};

static const struct {
	const char *word;
	enum tmpl_item item;
} keywords[] = {
	{"block", IT_BLOCK},
	{"break", IT_BREAK},
	{"continue", IT_CONTINUE},
	{"define", IT_DEFINE},
	{"else", IT_ELSE},
	{"end", IT_END},
	{"if", IT_IF},
	{"range", IT_RANGE},
	{"nil", IT_NIL},
	{"template", IT_TEMPLATE},
	{"with", IT_WITH},
};

static int32_t next(struct tmpl_lexer *l)
{
	size_t w;
	int32_t r;

	if (l->pos >= l->len) {
		l->at_eof = true;
		return EOF_RUNE;
	}
	r = cfg_tmpl_decode_rune(l->input + l->pos, l->len - l->pos, &w);
	l->pos += w;
	return r;
}

static void backup(struct tmpl_lexer *l)
{
	size_t w;

	if (!l->at_eof && l->pos > 0) {
		cfg_tmpl_decode_last_rune(l->input, l->pos, &w);
		l->pos -= w;
	}
}

static int32_t peek(struct tmpl_lexer *l)
{
	int32_t r = next(l);

	backup(l);
	return r;
}

static bool has_prefix(const struct tmpl_lexer *l, size_t at, const char *s)
{
	size_t n = strlen(s);

	return at <= l->len && l->len - at >= n && memcmp(l->input + at, s, n) == 0;
}

static bool is_space(int32_t r)
{
	return r == ' ' || r == '\t' || r == '\r' || r == '\n';
}

static bool is_alnum(int32_t r)
{
	if (r < 0)
		return false;
	if (r < 0x80)
		return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
		       (r >= '0' && r <= '9');
	return cfg_tmpl_is_letter(r) || cfg_tmpl_is_digit(r);
}

/* "- " after a left delimiter */
static bool left_trim_marker(const struct tmpl_lexer *l, size_t at)
{
	return at + 2 <= l->len && l->input[at] == '-' && is_space((uint8_t)l->input[at + 1]);
}

/* " -" before a right delimiter */
static bool right_trim_marker(const struct tmpl_lexer *l, size_t at)
{
	return at + 2 <= l->len && is_space((uint8_t)l->input[at]) && l->input[at + 1] == '-';
}

static size_t space_run(const struct tmpl_lexer *l, size_t at)
{
	size_t n = 0;

	while (at + n < l->len && is_space((uint8_t)l->input[at + n]))
		n++;
	return n;
}

static enum lstate emit(struct tmpl_lexer *l, enum tmpl_item typ)
{
	l->item.typ = typ;
	l->item.pos = l->start;
	l->item.val = l->input + l->start;
	l->item.len = l->pos - l->start;
	l->start = l->pos;
	return LS_EMIT;
}

static enum lstate errorf(struct tmpl_lexer *l, const char *fmt, ...) FC_PRINTF(2, 3);

static enum lstate errorf(struct tmpl_lexer *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	l->item.typ = IT_ERROR;
	l->item.pos = l->err_pos != 0 ? l->err_pos - 1 : l->start;
	l->err_pos = 0;
	l->item.val = l->msg;
	l->item.len = strlen(l->msg);
	/* as Go: the input is gone, every later item is EOF */
	l->start = l->pos = l->len = 0;
	return LS_EMIT;
}

/* %#U of Go's fmt, for messages */
static const char *rune_desc(int32_t r, char buf[32])
{
	if (r >= 0x20 && r < 0x7f)
		snprintf(buf, 32, "U+%04X '%c'", (unsigned)r, (char)r);
	else if (r < 0)
		snprintf(buf, 32, "EOF");
	else
		snprintf(buf, 32, "U+%04X", (unsigned)r);
	return buf;
}

static enum lstate lex_text(struct tmpl_lexer *l)
{
	const char *open = NULL;

	for (size_t i = l->pos; i + 1 < l->len; i++) {
		if (l->input[i] == '{' && l->input[i + 1] == '{') {
			open = l->input + i;
			break;
		}
	}
	if (open != NULL) {
		size_t x = (size_t)(open - l->input);
		if (x > l->pos) {
			size_t trim = 0, end;
			l->pos = x;
			if (left_trim_marker(l, x + 2)) {
				while (l->pos - trim > l->start &&
				       is_space((uint8_t)l->input[l->pos - trim - 1]))
					trim++;
			}
			end = l->pos - trim;
			if (end > l->start) {
				l->item.typ = IT_TEXT;
				l->item.pos = l->start;
				l->item.val = l->input + l->start;
				l->item.len = end - l->start;
				l->start = l->pos;
				return LS_EMIT;
			}
			l->start = l->pos;
		}
		return LS_LEFT_DELIM;
	}
	l->pos = l->len;
	if (l->pos > l->start)
		return emit(l, IT_TEXT);
	return emit(l, IT_EOF);
}

/* Whether a right delimiter (with or without trim marker) is at pos. */
static bool at_right_delim(const struct tmpl_lexer *l, bool *trim)
{
	*trim = false;
	if (right_trim_marker(l, l->pos) && has_prefix(l, l->pos + 2, "}}")) {
		*trim = true;
		return true;
	}
	return has_prefix(l, l->pos, "}}");
}

static enum lstate lex_left_delim(struct tmpl_lexer *l)
{
	bool trim;
	size_t after;

	l->pos += 2;
	trim = left_trim_marker(l, l->pos);
	after = trim ? 2 : 0;
	if (has_prefix(l, l->pos + after, "/*")) {
		l->pos += after;
		l->start = l->pos;
		return LS_COMMENT;
	}
	emit(l, IT_LEFT_DELIM);
	l->action_pos = l->item.pos;
	l->inside_action = true;
	l->pos += after;
	l->start = l->pos;
	l->paren_depth = 0;
	return LS_EMIT;
}

static enum lstate lex_comment(struct tmpl_lexer *l)
{
	const char *end = NULL;
	bool trim;

	l->pos += 2;
	for (size_t i = l->pos; i + 1 < l->len; i++) {
		if (l->input[i] == '*' && l->input[i + 1] == '/') {
			end = l->input + i;
			break;
		}
	}
	if (end == NULL)
		return errorf(l, "unclosed comment");
	l->pos = (size_t)(end - l->input) + 2;
	if (!at_right_delim(l, &trim))
		return errorf(l, "comment ends before closing delimiter");
	if (trim)
		l->pos += 2;
	l->pos += 2;
	if (trim)
		l->pos += space_run(l, l->pos);
	l->start = l->pos;
	return LS_TEXT;
}

static enum lstate lex_right_delim(struct tmpl_lexer *l)
{
	bool trim;

	at_right_delim(l, &trim);
	if (trim) {
		l->pos += 2;
		l->start = l->pos;
	}
	l->pos += 2;
	emit(l, IT_RIGHT_DELIM);
	if (trim) {
		l->pos += space_run(l, l->pos);
		l->start = l->pos;
	}
	l->inside_action = false;
	return LS_EMIT;
}

static enum lstate lex_inside_action(struct tmpl_lexer *l)
{
	char buf[32];
	bool trim;
	int32_t r;

	if (at_right_delim(l, &trim)) {
		if (l->paren_depth == 0)
			return LS_RIGHT_DELIM;
		l->err_pos = l->action_pos + 1;
		return errorf(l, "unclosed left paren");
	}
	r = next(l);
	if (r == EOF_RUNE) {
		l->err_pos = l->action_pos + 1;
		return errorf(l, "unclosed action");
	}
	if (is_space(r)) {
		backup(l);
		return LS_SPACE;
	}
	switch (r) {
	case '=': return emit(l, IT_ASSIGN);
	case ':':
		if (next(l) != '=')
			return errorf(l, "expected :=");
		return emit(l, IT_DECLARE);
	case '|': return emit(l, IT_PIPE);
	case '"': return LS_QUOTE;
	case '`': return LS_RAW_QUOTE;
	case '$': return LS_VARIABLE;
	case '\'': return LS_CHAR;
	case '(': l->paren_depth++; return emit(l, IT_LEFT_PAREN);
	case ')':
		if (--l->paren_depth < 0)
			return errorf(l, "unexpected right paren");
		return emit(l, IT_RIGHT_PAREN);
	case '.':
		if (l->pos < l->len && (l->input[l->pos] < '0' || l->input[l->pos] > '9'))
			return LS_FIELD;
		backup(l);
		return LS_NUMBER;
	default: break;
	}
	if (r == '+' || r == '-' || (r >= '0' && r <= '9')) {
		backup(l);
		return LS_NUMBER;
	}
	if (is_alnum(r)) {
		backup(l);
		return LS_IDENTIFIER;
	}
	if (r >= 0x20 && r < 0x7f)
		return emit(l, IT_CHAR);
	return errorf(l, "unrecognized character in action: %s", rune_desc(r, buf));
}

static enum lstate lex_space(struct tmpl_lexer *l)
{
	int spaces = 0;

	while (is_space(peek(l))) {
		next(l);
		spaces++;
	}
	if (right_trim_marker(l, l->pos - 1) && has_prefix(l, l->pos - 1 + 2, "}}")) {
		backup(l);
		if (spaces == 1)
			return LS_RIGHT_DELIM;
	}
	return emit(l, IT_SPACE);
}

/* After an identifier: a space, one of . , | : ) ( , EOF or "}}". */
static bool at_terminator(struct tmpl_lexer *l)
{
	int32_t r = peek(l);

	if (is_space(r))
		return true;
	switch (r) {
	case EOF_RUNE:
	case '.':
	case ',':
	case '|':
	case ':':
	case ')':
	case '(': return true;
	default: return has_prefix(l, l->pos, "}}");
	}
}

static enum lstate lex_identifier(struct tmpl_lexer *l)
{
	char buf[32];
	size_t n;
	int32_t r;

	while (is_alnum(r = next(l)))
		;
	backup(l);
	if (!at_terminator(l))
		return errorf(l, "bad character %s", rune_desc(r, buf));
	n = l->pos - l->start;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strlen(keywords[i].word) == n &&
		    memcmp(keywords[i].word, l->input + l->start, n) == 0)
			return emit(l, keywords[i].item);
	}
	if ((n == 4 && memcmp(l->input + l->start, "true", 4) == 0) ||
	    (n == 5 && memcmp(l->input + l->start, "false", 5) == 0))
		return emit(l, IT_BOOL);
	return emit(l, IT_IDENTIFIER);
}

/* .Field or $variable, the '.' or '$' already read */
static enum lstate lex_field_or_variable(struct tmpl_lexer *l, enum tmpl_item typ)
{
	char buf[32];
	int32_t r;

	if (at_terminator(l))
		return emit(l, typ == IT_VARIABLE ? IT_VARIABLE : IT_DOT);
	while (is_alnum(r = next(l)))
		;
	backup(l);
	if (!at_terminator(l))
		return errorf(l, "bad character %s", rune_desc(r, buf));
	return emit(l, typ);
}

/* A quoted constant up to its closing quote (backslash escapes skipped; as
 * Go's lexChar and lexQuote): emit item, or the error what on a newline or
 * the end of the input. */
static enum lstate lex_delimited(struct tmpl_lexer *l, int32_t quote, enum tmpl_item item,
				 const char *what)
{
	for (;;) {
		int32_t r = next(l);
		if (r == '\\') {
			r = next(l);
			if (r != EOF_RUNE && r != '\n')
				continue;
		}
		if (r == EOF_RUNE || r == '\n')
			return errorf(l, "%s", what);
		if (r == quote)
			return emit(l, item);
	}
}

static enum lstate lex_char(struct tmpl_lexer *l)
{
	return lex_delimited(l, '\'', IT_CHAR_CONSTANT, "unterminated character constant");
}

static bool accept(struct tmpl_lexer *l, const char *valid)
{
	int32_t r = next(l);

	if (r > 0 && r < 0x80 && strchr(valid, (char)r) != NULL)
		return true;
	backup(l);
	return false;
}

static void accept_run(struct tmpl_lexer *l, const char *valid)
{
	for (;;) {
		int32_t r = next(l);
		if (!(r > 0 && r < 0x80 && strchr(valid, (char)r) != NULL))
			break;
	}
	backup(l);
}

/* parse/lex.go's scanNumber: loose on purpose; newNumber checks. */
static bool scan_number(struct tmpl_lexer *l)
{
	const char *digits = "0123456789_";

	accept(l, "+-");
	if (accept(l, "0")) {
		if (accept(l, "xX"))
			digits = "0123456789abcdefABCDEF_";
		else if (accept(l, "oO"))
			digits = "01234567_";
		else if (accept(l, "bB"))
			digits = "01_";
	}
	accept_run(l, digits);
	if (accept(l, "."))
		accept_run(l, digits);
	if (strlen(digits) == 11 && accept(l, "eE")) {
		accept(l, "+-");
		accept_run(l, "0123456789_");
	}
	if (strlen(digits) == 23 && accept(l, "pP")) {
		accept(l, "+-");
		accept_run(l, "0123456789_");
	}
	accept(l, "i");
	if (is_alnum(peek(l))) {
		next(l);
		return false;
	}
	return true;
}

static enum lstate lex_number(struct tmpl_lexer *l)
{
	int32_t sign;

	if (!scan_number(l))
		return errorf(l, "bad number syntax: \"%.*s\"", (int)(l->pos - l->start),
			      l->input + l->start);
	sign = peek(l);
	if (sign == '+' || sign == '-') {
		if (!scan_number(l) || l->input[l->pos - 1] != 'i')
			return errorf(l, "bad number syntax: \"%.*s\"", (int)(l->pos - l->start),
				      l->input + l->start);
		return emit(l, IT_COMPLEX);
	}
	return emit(l, IT_NUMBER);
}

static enum lstate lex_quote(struct tmpl_lexer *l)
{
	return lex_delimited(l, '"', IT_STRING, "unterminated quoted string");
}

static enum lstate lex_raw_quote(struct tmpl_lexer *l)
{
	for (;;) {
		int32_t r = next(l);
		if (r == EOF_RUNE)
			return errorf(l, "unterminated raw quoted string");
		if (r == '`')
			return emit(l, IT_RAW_STRING);
	}
}

static enum lstate step(struct tmpl_lexer *l, enum lstate s)
{
	switch (s) {
	case LS_TEXT: return lex_text(l);
	case LS_LEFT_DELIM: return lex_left_delim(l);
	case LS_COMMENT: return lex_comment(l);
	case LS_RIGHT_DELIM: return lex_right_delim(l);
	case LS_INSIDE: return lex_inside_action(l);
	case LS_SPACE: return lex_space(l);
	case LS_IDENTIFIER: return lex_identifier(l);
	case LS_FIELD: return lex_field_or_variable(l, IT_FIELD);
	case LS_VARIABLE:
		if (at_terminator(l))
			return emit(l, IT_VARIABLE);
		return lex_field_or_variable(l, IT_VARIABLE);
	case LS_CHAR: return lex_char(l);
	case LS_NUMBER: return lex_number(l);
	case LS_QUOTE: return lex_quote(l);
	case LS_RAW_QUOTE: return lex_raw_quote(l);
	case LS_EMIT: break;
	}
	return LS_EMIT;
}

/*
 * Start lexing input[0..len) (outside any action).
 */
void cfg_tmpl_lex_init(struct tmpl_lexer *l, const char *input, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->input = input;
	l->len = len;
}

/*
 * The next item. After an IT_ERROR item (its val is the message) every
 * item is IT_EOF.
 */
struct tmpl_item_tok cfg_tmpl_lex_next(struct tmpl_lexer *l)
{
	enum lstate s = l->inside_action ? LS_INSIDE : LS_TEXT;

	l->item.typ = IT_EOF;
	l->item.pos = l->pos;
	l->item.val = "EOF";
	l->item.len = 3;
	while (s != LS_EMIT)
		s = step(l, s);
	return l->item;
}
