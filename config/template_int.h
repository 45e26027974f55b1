/*
 * config: internals of the claim templates (Go's text/template as Fulcio
 * runs it), shared by config/template*.c only. The files follow Go's
 * packages:
 *
 *   template_text.c     arena, output writer, UTF-8, strconv (quoting,
 *                       unquoting, number literals)
 *   template_unicode.c  rune classes (generated)
 *   template_float.c    strconv.AppendFloat
 *   template_fmt.c      fmt.Sprint, Sprintln, Sprintf
 *   template_lex.c      text/template/parse lexer
 *   template_parse.c    text/template/parse parser
 *   template_exec.c     text/template execution
 *   template_funcs.c    text/template builtin functions
 *   template.c          the API of config.h
 *
 * The values a template can handle over Fulcio's data (a map[string]string
 * as dot, no custom functions) are few: the map itself, strings, bools,
 * ints, bytes (uint8, from indexing a string), float64 constants, the
 * untyped nil and the invalid "no value". Complex constants are refused
 * at parse time.
 */
#ifndef FULCRUM_TEMPLATE_INT_H
#define FULCRUM_TEMPLATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_int.h"

/* --- template_text.c: memory, output, UTF-8, strconv -------------------- */

/* A string that is not NUL-terminated (it may hold NUL bytes). */
struct tmpl_str {
	const char *p;
	size_t n;
};

/* Bump allocator; everything is freed at once. */
struct tmpl_block;
struct tmpl_arena {
	struct tmpl_block *head;
	size_t used; /* bytes handed out */
	size_t max;  /* limit on used */
};

void cfg_tmpl_arena_init(struct tmpl_arena *a, size_t max);
/* n zeroed bytes, aligned for any type; NULL once `max` would be passed. */
void *cfg_tmpl_alloc(struct tmpl_arena *a, size_t n);
/* A copy of s[0..n) with a NUL after it; NULL as for cfg_tmpl_alloc. */
char *cfg_tmpl_strdup(struct tmpl_arena *a, const char *s, size_t n);
void cfg_tmpl_arena_free(struct tmpl_arena *a);

/* Output with a hard size cap; `full` sticks once a write did not fit. */
struct tmpl_w {
	struct fc_buf b;
	bool full;
};

void cfg_tmpl_w_init(struct tmpl_w *w, size_t max);
void cfg_tmpl_put(struct tmpl_w *w, const void *p, size_t n);
void cfg_tmpl_putc(struct tmpl_w *w, char c);
void cfg_tmpl_puts(struct tmpl_w *w, const char *s);
/* n copies of c */
void cfg_tmpl_putn(struct tmpl_w *w, char c, size_t n);
/* utf8.AppendRune */
void cfg_tmpl_put_rune(struct tmpl_w *w, int32_t r);

#define TMPL_RUNE_ERROR 0xFFFD
#define TMPL_MAX_RUNE 0x10FFFF

/* utf8.DecodeRuneInString: the rune at s[0..n) and its width; invalid
 * input is (RuneError, 1); n == 0 is (RuneError, 0). */
int32_t cfg_tmpl_decode_rune(const char *s, size_t n, size_t *width);
/* utf8.DecodeLastRuneInString */
int32_t cfg_tmpl_decode_last_rune(const char *s, size_t n, size_t *width);
/* utf8.EncodeRune into out[4]; returns the length (invalid: U+FFFD). */
size_t cfg_tmpl_encode_rune(char out[4], int32_t r);
/* utf8.RuneCountInString */
size_t cfg_tmpl_rune_count(const char *s, size_t n);
/* utf8.ValidString */
bool cfg_tmpl_valid_utf8(const char *s, size_t n);

/* strconv.UnquoteChar: decodes the character or escape at s[0..n) for a
 * literal quoted by `quote`; *used is the bytes consumed. */
bool cfg_tmpl_unquote_char(const char *s, size_t n, char quote, int32_t *value, bool *multibyte,
			   size_t *used);
/* strconv.Unquote of a "..." or `...` literal; the result is in a. False
 * on a syntax error (or when a is full: *oom set). */
bool cfg_tmpl_unquote(struct tmpl_arena *a, const char *s, size_t n, struct tmpl_str *out,
		      bool *oom);
/* strconv.Quote (ascii false) or QuoteToASCII (true). */
void cfg_tmpl_quote(struct tmpl_w *w, const char *s, size_t n, bool ascii);
/* strconv.QuoteRune / QuoteRuneToASCII. */
void cfg_tmpl_quote_rune(struct tmpl_w *w, int32_t r, bool ascii);
/* strconv.CanBackquote */
bool cfg_tmpl_can_backquote(const char *s, size_t n);

/* A number literal as parse.NumberNode holds it. */
struct tmpl_num {
	bool is_int, is_uint, is_float;
	int64_t i;
	uint64_t u;
	double f;
};

enum tmpl_num_res { TMPL_NUM_OK, TMPL_NUM_BAD, TMPL_NUM_COMPLEX };

/* parse.(*Tree).newNumber for a number (is_char false) or a character
 * constant token. TMPL_NUM_COMPLEX for a complex or imaginary constant
 * (fulcrum refuses those), TMPL_NUM_BAD when Go's parser fails. */
enum tmpl_num_res cfg_tmpl_parse_number(const char *s, size_t n, bool is_char,
					struct tmpl_num *out);

/* --- template_unicode.c (generated) ------------------------------------ */

extern const uint32_t cfg_tmpl_letter[][2], cfg_tmpl_digit[][2], cfg_tmpl_print[][2],
	cfg_tmpl_space[][2];
extern const size_t cfg_tmpl_letter_n, cfg_tmpl_digit_n, cfg_tmpl_print_n, cfg_tmpl_space_n;

/* unicode.IsLetter, unicode.IsDigit, strconv.IsPrint, unicode.IsSpace */
bool cfg_tmpl_is_letter(int32_t r);
bool cfg_tmpl_is_digit(int32_t r);
bool cfg_tmpl_is_print(int32_t r);
bool cfg_tmpl_is_space(int32_t r);

/* --- template_float.c --------------------------------------------------- */

/* strconv.AppendFloat(v, fmt, prec, 64) for fmt one of b e E f g G x X,
 * appended to w. */
void cfg_tmpl_format_float(struct tmpl_w *w, double v, char fmt, int prec);

/* --- values -------------------------------------------------------------- */

enum tmpl_kind {
	TV_INVALID, /* reflect.Value{}: "no value" */
	TV_NIL,	    /* a nil interface{}: only as an argument of print/printf/... */
	TV_BOOL,
	TV_INT,	  /* int */
	TV_UINT8, /* a byte of a string */
	TV_FLOAT, /* float64 */
	TV_STRING,
	TV_MAP, /* the data: map[string]string */
};

/* The data. kv is sorted by key (bytewise) with unique keys; when the
 * caller gave only a lookup function, kv is NULL and `enumerable` false. */
struct tmpl_map {
	const struct cfg_kv *kv;
	size_t n;
	bool enumerable;
	const char *(*lookup)(void *ctx, const char *name);
	void *ctx;
};

struct tmpl_val {
	enum tmpl_kind k;
	union {
		bool b;
		int64_t i;
		uint8_t u8;
		double f;
		struct tmpl_str s;
		const struct tmpl_map *m;
	};
};

/* --- the parse tree (template_parse.c builds it, template_exec.c runs it) --- */

enum tmpl_fn {
	FN_AND,
	FN_CALL,
	FN_EQ,
	FN_GE,
	FN_GT,
	FN_HTML,
	FN_INDEX,
	FN_JS,
	FN_LE,
	FN_LEN,
	FN_LT,
	FN_NE,
	FN_NOT,
	FN_OR,
	FN_PRINT,
	FN_PRINTF,
	FN_PRINTLN,
	FN_SLICE,
	FN_URLQUERY,
	FN_COUNT
};

/* How an argument is passed (the Go parameter type): reflect.Value, any,
 * string, or none (the base of a chain such as (x).f). */
enum tmpl_param { TP_NONE, TP_VALUE, TP_ANY, TP_STRING };

/* A builtin's signature: `fixed` parameters of type `first` (printf: the
 * format, a string), then if variadic any number of type `rest`. */
struct tmpl_fninfo {
	const char *name;
	size_t fixed;
	bool variadic;
	enum tmpl_param first, rest;
};

extern const struct tmpl_fninfo cfg_tmpl_fns[FN_COUNT];

/* Index in cfg_tmpl_fns, or FN_COUNT. */
enum tmpl_fn cfg_tmpl_fn_find(const char *name, size_t n);

enum tmpl_arg_kind {
	TA_FIELD, /* .a.b: idents */
	TA_CHAIN, /* (pipe).a.b or fn.a: base, idents */
	TA_VAR,	  /* $x.a: idents[0] is the variable's name */
	TA_DOT,
	TA_NIL,
	TA_BOOL,
	TA_NUMBER,
	TA_STRING,
	TA_IDENT, /* a function name */
	TA_PIPE,  /* (pipeline) */
};

/* What idealConstant makes of a number literal. */
enum tmpl_ideal { TI_INT, TI_FLOAT, TI_OVERFLOW, TI_NONE };

struct tmpl_pipe;

struct tmpl_arg {
	enum tmpl_arg_kind kind;
	uint32_t pos;
	struct tmpl_str *idents;
	size_t n_idents;
	struct tmpl_arg *base;
	struct tmpl_pipe *pipe;
	bool b;
	struct tmpl_str s; /* string value; number or function name as written */
	enum tmpl_fn fn;
	enum tmpl_ideal ideal;
	struct tmpl_num num;
};

struct tmpl_cmd {
	uint32_t pos;
	struct tmpl_arg **args;
	size_t n;
};

struct tmpl_pipe {
	uint32_t pos;
	bool is_assign;
	struct tmpl_str *decl; /* variable names, "$x" */
	size_t n_decl;
	struct tmpl_cmd **cmds;
	size_t n_cmds;
};

enum tmpl_node_kind {
	TN_TEXT,
	TN_ACTION,
	TN_IF,
	TN_WITH,
	TN_RANGE,
	TN_TEMPLATE,
	TN_BREAK,
	TN_CONTINUE,
	TN_END,	 /* parse only */
	TN_ELSE, /* parse only */
};

struct tmpl_list;

struct tmpl_node {
	enum tmpl_node_kind kind;
	uint32_t pos;
	struct tmpl_str text; /* TN_TEXT: the text; TN_TEMPLATE: the name */
	struct tmpl_pipe *pipe;
	struct tmpl_list *list, *else_list;
};

struct tmpl_list {
	struct tmpl_node **v;
	size_t n, cap;
};

/* One named template: the text outside any {{define}} is named "". */
struct tmpl_tree {
	struct tmpl_str name;
	struct tmpl_list *root;
};

struct cfg_template {
	struct tmpl_arena arena; /* everything below lives here */
	const char *text;
	size_t len;
	struct tmpl_tree **trees;
	size_t n_trees, cap_trees;
};

/* Line and column (both from 1) of byte offset pos in the text. */
void cfg_tmpl_line_col(const char *text, size_t len, size_t pos, size_t *line, size_t *col);

/* --- template_lex.c ------------------------------------------------------- */

enum tmpl_item {
	IT_ERROR,
	IT_BOOL,
	IT_CHAR,
	IT_CHAR_CONSTANT,
	IT_COMMENT,
	IT_COMPLEX,
	IT_ASSIGN,
	IT_DECLARE,
	IT_EOF,
	IT_FIELD,
	IT_IDENTIFIER,
	IT_LEFT_DELIM,
	IT_LEFT_PAREN,
	IT_NUMBER,
	IT_PIPE,
	IT_RAW_STRING,
	IT_RIGHT_DELIM,
	IT_RIGHT_PAREN,
	IT_SPACE,
	IT_STRING,
	IT_TEXT,
	IT_VARIABLE,
	IT_KEYWORD, /* keywords follow */
	IT_BLOCK,
	IT_BREAK,
	IT_CONTINUE,
	IT_DOT,
	IT_DEFINE,
	IT_ELSE,
	IT_END,
	IT_IF,
	IT_NIL,
	IT_RANGE,
	IT_TEMPLATE,
	IT_WITH,
};

struct tmpl_item_tok {
	enum tmpl_item typ;
	size_t pos;
	const char *val; /* into the input; IT_ERROR: the message */
	size_t len;
};

struct tmpl_lexer {
	const char *input;
	size_t len, pos, start;
	bool at_eof;
	int paren_depth;
	bool inside_action;
	size_t action_pos; /* of the current action's "{{" */
	size_t err_pos;	   /* 1 + where to report the next error; 0: the item */
	struct tmpl_item_tok item;
	char msg[128];
};

void cfg_tmpl_lex_init(struct tmpl_lexer *l, const char *input, size_t len);
/* The next item (parse.(*lexer).nextItem). */
struct tmpl_item_tok cfg_tmpl_lex_next(struct tmpl_lexer *l);

/* --- template_parse.c ------------------------------------------------------ */

/* parse.Parse of the whole text into t (whose arena, text and len are
 * set). FC_OK, or FC_ECONFIG with the position and reason in err. */
enum fc_status cfg_tmpl_parse(struct cfg_template *t, struct fc_err *err);

/* --- template_exec.c / template_funcs.c / template_fmt.c ------------------- */

struct tmpl_var {
	struct tmpl_str name;
	struct tmpl_val v;
};

/* The state of one execution. */
struct tmpl_exec {
	const struct cfg_template *t;
	const struct tmpl_map *data;
	struct tmpl_arena arena; /* values made while rendering */
	struct tmpl_w out;
	struct tmpl_var *vars;
	size_t n_vars, cap_vars, var_base;
	unsigned depth;
	uint64_t work;
	uint32_t pos; /* of the node being run, for messages */
	struct fc_err *err;
};

/* Record an execution error at x->pos; returns false. */
bool cfg_tmpl_errorf(struct tmpl_exec *x, const char *fmt, ...) FC_PRINTF(2, 3);
/* Count work against CFG_TEMPLATE_MAX_WORK; false (error set) past it. */
bool cfg_tmpl_charge(struct tmpl_exec *x, size_t units);
/* A copy of w's contents as a string value in x's arena; false (error set)
 * when w is full or memory runs out. Frees w. */
bool cfg_tmpl_w_to_val(struct tmpl_exec *x, struct tmpl_w *w, struct tmpl_val *out);

/* The value of key in the data map. */
bool cfg_tmpl_map_get(struct tmpl_exec *x, const struct tmpl_map *m, const char *k, size_t kn,
		      struct tmpl_str *out);
/* The map's entries in key order, or an execution error when the caller
 * gave only a lookup function. */
bool cfg_tmpl_map_entries(struct tmpl_exec *x, const struct tmpl_map *m, const struct cfg_kv **kv,
			  size_t *n);

/* Go's name of the value's type ("string", "map[string]string", ...). */
const char *cfg_tmpl_type_name(const struct tmpl_val *v);
/* template.isTrue; false with an error only for a map that cannot be
 * enumerated. */
bool cfg_tmpl_truth(struct tmpl_exec *x, const struct tmpl_val *v, bool *truth);

/* A builtin applied to evaluated arguments (and/or/call are handled by the
 * caller). False with the error set. */
bool cfg_tmpl_builtin(struct tmpl_exec *x, enum tmpl_fn fn, const struct tmpl_val *argv,
		      size_t argc, struct tmpl_val *out);

/* fmt.Sprint (ln false) or fmt.Sprintln (true) of argv into w. */
bool cfg_tmpl_sprint(struct tmpl_exec *x, struct tmpl_w *w, const struct tmpl_val *argv,
		     size_t argc, bool ln);
/* fmt.Sprintf(format, argv...) into w. */
bool cfg_tmpl_sprintf(struct tmpl_exec *x, struct tmpl_w *w, struct tmpl_str format,
		      const struct tmpl_val *argv, size_t argc);

/* Run the template named "" (template.Execute); output in x->out. */
bool cfg_tmpl_execute(struct tmpl_exec *x);

#endif /* FULCRUM_TEMPLATE_INT_H */
