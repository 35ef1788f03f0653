/* tests/unit/test_dotenv.c — the one .env parser (core/dotenv.h): the file the phala 1.0.35 CLI
 * was run with (shared/vectors/phala-cloud/cli-1.0.35-captured-requests.json, inputs[".env"])
 * gives exactly what its `deploy` command (dotenv rules) encrypted; the dotenv quirks of
 * shared/specs/phala-cloud.md 5.6 with exact values; where teehost is stricter than dotenv, the
 * exact error texts, none of which quotes a value; duplicate names; the helpers. Expected values
 * are those of dotenv's regex (as in @phala/cloud's parse_dotenv.ts), run under Node on the same
 * inputs, unless a test says teehost differs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dotenv.h"

/* Parses text (a C string) and fails the test with the parser's message when it does not. */
static th_dotenv *parse_ok(const char *text) {
  th_err err = {0};
  th_dotenv *env = th_dotenv_parse(text, strlen(text), &err);
  if (!env) fail_msg("parse failed: %s", err.message);
  return env;
}

/* Parses text that must fail with code and exactly message. */
static void parse_fails(const char *text, size_t len, int code, const char *message) {
  th_err err = {0};
  th_dotenv *env = th_dotenv_parse(text, len, &err);
  if (env) {
    th_dotenv_free(env);
    fail_msg("parsed, but should fail with: %s", message);
  }
  assert_int_equal(err.code, code);
  assert_string_equal(err.message, message);
}

static void fails(const char *text, const char *message) {
  parse_fails(text, strlen(text), TH_EBADDATA, message);
}

/* The single variable text defines must be name=value. */
static void one(const char *text, const char *name, const char *value) {
  th_dotenv *env = parse_ok(text);
  assert_int_equal(env->count, 1);
  assert_string_equal(env->vars[0].name, name);
  assert_string_equal(env->vars[0].value, value);
  th_dotenv_free(env);
}

/* The captured CLI input: `phala deploy` sent GREETING="héllo wörld = 1", API_TOKEN
 * "sk-test-abc123", EMPTY "", QUOTED_NL with a real newline, EXPORTED "yes", in this order. */
static void test_cli_capture_matches_deploy(void **state) {
  (void)state;
  static const char file[] =
      "# comment line\n"
      "GREETING=\"h\xC3\xA9llo w\xC3\xB6rld = 1\"\n"
      "API_TOKEN=sk-test-abc123  # inline comment\n"
      "EMPTY=\n"
      "QUOTED_NL=\"line1\\nline2\"\n"
      "export EXPORTED=yes\n";
  static const char *const want[][2] = {{"GREETING", "h\xC3\xA9llo w\xC3\xB6rld = 1"},
                                        {"API_TOKEN", "sk-test-abc123"},
                                        {"EMPTY", ""},
                                        {"QUOTED_NL", "line1\nline2"},
                                        {"EXPORTED", "yes"}};
  static const size_t lines[] = {2, 3, 4, 5, 6};
  th_dotenv *env = parse_ok(file);
  assert_int_equal(env->count, 5);
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(env->vars[i].name, want[i][0]);
    assert_string_equal(env->vars[i].value, want[i][1]);
    assert_int_equal(env->vars[i].line, lines[i]);
  }
  assert_int_equal(env->warning_count, 0);
  assert_string_equal(th_dotenv_get(env, "API_TOKEN"), "sk-test-abc123");
  assert_null(th_dotenv_get(env, "export EXPORTED")); /* what cvms create/upgrade sent */
  assert_null(th_dotenv_get(env, "MISSING"));
  th_dotenv_free(env);
}

static void test_comments_blank_lines_and_empty_file(void **state) {
  (void)state;
  th_dotenv *env = parse_ok("");
  assert_int_equal(env->count, 0);
  th_dotenv_free(env);
  env = parse_ok("\n   \n\t# only a comment\n  # indented comment\n\n");
  assert_int_equal(env->count, 0);
  th_dotenv_free(env);
  env = parse_ok("# A=1\nB=2 # c\n#C=3");
  assert_int_equal(env->count, 1);
  assert_string_equal(env->vars[0].name, "B");
  assert_int_equal(env->vars[0].line, 2);
  th_dotenv_free(env);
}

static void test_export_prefix(void **state) {
  (void)state;
  one("export A=1", "A", "1");
  one("export\t  A=1", "A", "1");
  one("  export A = 1", "A", "1");
  one("export = 1", "export", "1"); /* no name after export: export is the name */
  one("export=1", "export", "1");
  one("exported=1", "exported", "1");
}

static void test_empty_values(void **state) {
  (void)state;
  one("A=", "A", "");
  one("A=   ", "A", "");
  one("A= # note", "A", "");
  one("A=#note", "A", ""); /* a # that starts the value starts a comment, as in dotenv */
  one("A=\"\"", "A", "");
  one("A=''", "A", "");
  one("A=``", "A", "");
  one("A: ", "A", "");
}

static void test_unquoted_values(void **state) {
  (void)state;
  one("A=some spaced out string", "A", "some spaced out string");
  one("  A =  padded  ", "A", "padded");
  one("A=equals==", "A", "equals==");
  one("A=a=b=c", "A", "a=b=c");
  one("A={\"foo\": \"bar\"}", "A", "{\"foo\": \"bar\"}"); /* inner quotes kept */
  one("A=dont\\nexpand", "A", "dont\\nexpand");           /* \n stays two characters */
  one("A=x'y\"z", "A", "x'y\"z");
  one("A=therealnerdybeast@example.tld", "A", "therealnerdybeast@example.tld");
  one("A=inline comments # here", "A", "inline comments");
  one("A=tab\tcomment\t# here", "A", "tab\tcomment");
  one("A: colon form", "A", "colon form");
  one("A:\tvalue", "A", "value");
  one("a.b-c_D9=1", "a.b-c_D9", "1");
  one("1N=1", "1N", "1");
}

/* dotenv cuts an unquoted value at any #; the spec keeps a # that does not follow white space,
 * so pa#ss stays whole and a warning (naming the line, not the value) says dotenv differs. */
static void test_hash_inside_unquoted_value_is_kept_with_warning(void **state) {
  (void)state;
  th_dotenv *env = parse_ok("A=1\nPASSWORD=pa#ss#word # comment\n");
  assert_string_equal(th_dotenv_get(env, "PASSWORD"), "pa#ss#word");
  assert_int_equal(env->warning_count, 1);
  assert_string_equal(env->warnings[0],
                      "line 2: '#' in the unquoted value of PASSWORD is kept (dotenv would end "
                      "the value there; quote the value to make this explicit)");
  assert_null(strstr(env->warnings[0], "pa#ss"));
  th_dotenv_free(env);
  env = parse_ok("URL=\"https://x/#frag\"\n");
  assert_string_equal(th_dotenv_get(env, "URL"), "https://x/#frag");
  assert_int_equal(env->warning_count, 0);
  th_dotenv_free(env);
}

static void test_quoted_values(void **state) {
  (void)state;
  one("A='single_quotes'", "A", "single_quotes");
  one("A='    single quotes    '", "A", "    single quotes    ");
  one("A=\"    double quotes    \"", "A", "    double quotes    ");
  one("A=`    backticks    `", "A", "    backticks    ");
  one("A='double \"quotes\" work inside single quotes'", "A",
      "double \"quotes\" work inside single quotes");
  one("A=\"single 'quotes' work inside double quotes\"", "A",
      "single 'quotes' work inside double quotes");
  one("A=`double \"quotes\" and single 'quotes' work inside backticks`", "A",
      "double \"quotes\" and single 'quotes' work inside backticks");
  one("A=\"inline comments outside of #doublequotes\" # comment", "A",
      "inline comments outside of #doublequotes");
  one("A='x'#right after", "A", "x");
  one("A =   \"spaced\"   ", "A", "spaced");
  one("A: 'colon'", "A", "colon");
  one("export A=`{\"foo\": \"bar's\"}`", "A", "{\"foo\": \"bar's\"}");
}

/* Only in double quotes, and only \n and \r: nothing else is unescaped (dotenv keeps \" and \\
 * as two characters each, and so does what phala deploy sends). */
static void test_escapes_only_newlines_in_double_quotes(void **state) {
  (void)state;
  one("A=\"expand\\nnew\\nlines\"", "A", "expand\nnew\nlines");
  one("A=\"cr\\rlf\\n\"", "A", "cr\rlf\n");
  one("A='dontexpand\\nnewlines'", "A", "dontexpand\\nnewlines");
  one("A=`dontexpand\\nnewlines`", "A", "dontexpand\\nnewlines");
  one("A=\"say \\\"hi\\\"\"", "A", "say \\\"hi\\\"");
  one("A=\"back\\\\slash\"", "A", "back\\\\slash");
  one("A=\"tab\\tstays\"", "A", "tab\\tstays");
  one("A=\"a\\\\nb\"", "A", "a\\\nb"); /* \\n: the second backslash and n make a newline */
  one("A='it\\'s'", "A", "it\\'s");
}

/* dotenv's regex ends a quoted value at the last quote such that every quote before it is
 * preceded by a backslash and only a comment follows it. */
static void test_quote_ends_where_dotenv_ends_it(void **state) {
  (void)state;
  one("A=\"x\\\" # c\"", "A", "x\\\" # c");
  one("A=\"a\\\\\"", "A", "a\\\\");
  one("A=`abc\\`", "A", "abc\\"); /* the backslash before the last quote stays */
  th_dotenv *env = parse_ok("A=\"C:\\\\dir\\\"\nB=\"b\"\n");
  assert_string_equal(th_dotenv_get(env, "A"), "C:\\\\dir\\");
  assert_string_equal(th_dotenv_get(env, "B"), "b");
  th_dotenv_free(env);
}

static void test_multiline_quoted_values(void **state) {
  (void)state;
  static const char file[] =
      "BASIC=basic\n"
      "PEM=\"-----BEGIN PUBLIC KEY-----\n"
      "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnNl1tL3QjKp3DZWM0T3u\n"
      "-----END PUBLIC KEY-----\"\n"
      "SQ='THIS\nIS\nA\nMULTILINE\nSTRING' # trailing comment\n"
      "BT=`THIS\nIS\nA\n\"MULTILINE'S\"\nSTRING`\n"
      "AFTER=after_line\n";
  th_dotenv *env = parse_ok(file);
  assert_int_equal(env->count, 5);
  assert_string_equal(th_dotenv_get(env, "PEM"),
                      "-----BEGIN PUBLIC KEY-----\n"
                      "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnNl1tL3QjKp3DZWM0T3u\n"
                      "-----END PUBLIC KEY-----");
  assert_string_equal(th_dotenv_get(env, "SQ"), "THIS\nIS\nA\nMULTILINE\nSTRING");
  assert_string_equal(th_dotenv_get(env, "BT"), "THIS\nIS\nA\n\"MULTILINE'S\"\nSTRING");
  static const size_t lines[] = {1, 2, 5, 10, 15};
  for (size_t i = 0; i < 5; i++) assert_int_equal(env->vars[i].line, lines[i]);
  th_dotenv_free(env);
}

static void test_line_endings_and_bom(void **state) {
  (void)state;
  static const char *const files[] = {
      "SERVER=localhost\rPASSWORD=password\rDB=tests\r",
      "SERVER=localhost\nPASSWORD=password\nDB=tests\n",
      "SERVER=localhost\r\nPASSWORD=password\r\nDB=tests\r\n",
      "\xEF\xBB\xBFSERVER=localhost\r\nPASSWORD=password\r\nDB=tests",
  };
  for (size_t f = 0; f < 4; f++) {
    th_dotenv *env = parse_ok(files[f]);
    assert_int_equal(env->count, 3);
    assert_string_equal(th_dotenv_get(env, "SERVER"), "localhost");
    assert_string_equal(th_dotenv_get(env, "PASSWORD"), "password");
    assert_string_equal(th_dotenv_get(env, "DB"), "tests");
    assert_int_equal(env->vars[2].line, 3);
    th_dotenv_free(env);
  }
  /* CRLF inside a quoted value becomes LF, as dotenv's first replace does. */
  one("A=\"x\r\ny\"", "A", "x\ny");
}

static void test_invalid_lines_name_the_line_not_the_text(void **state) {
  (void)state;
  fails("A=1\nsk-live-0123456789\n", "line 2: missing '=' after the name");
  fails("A=1\n\n  =value\n", "line 3: expected NAME=value");
  fails("\"QUOTED\"=1", "line 1: expected NAME=value");
  fails("MY KEY=1", "line 1: invalid character in a name (allowed: A-Z a-z 0-9 _ . -)");
  fails("K\xC3\x84Y=1", "line 1: invalid character in a name (allowed: A-Z a-z 0-9 _ . -)");
  fails("export SECRET", "line 1: missing '=' after the name");
  fails("A:b", "line 1: ':' after a name must be followed by white space");
  fails("A :b", "line 1: missing '=' after the name");
  fails("A:\nB=1", "line 1: nothing after ':' (write NAME= for an empty value)");
}

static void test_quote_errors(void **state) {
  (void)state;
  fails("A=1\nTOKEN=\"abc\n", "line 2: unterminated double-quoted value of TOKEN");
  fails("TOKEN='abc", "line 1: unterminated single-quoted value of TOKEN");
  fails("TOKEN=`abc", "line 1: unterminated backtick-quoted value of TOKEN");
  fails("TOKEN=\"abc\"def", "line 1: unexpected text after the closing quote of TOKEN");
  fails("TOKEN=\"q\"\"q\"", "line 1: unexpected text after the closing quote of TOKEN");
  /* An open quote runs into the next definition's quote: the error names both lines. */
  fails("A=1\nTOKEN=\"abc\nB=\"x\"\n",
        "line 3: unexpected text after the closing quote of TOKEN (value opened on line 2)");
}

static void test_nul_and_invalid_utf8(void **state) {
  (void)state;
  parse_fails("A=1\nB=x\0y\n", 10, TH_EBADDATA, "line 2: NUL byte");
  fails("A=1\r\nB=\xC3\x28\n", "line 2: invalid UTF-8");
  fails("A=\xED\xA0\x80", "line 1: invalid UTF-8");     /* a UTF-16 surrogate */
  fails("A=\xC0\xAF", "line 1: invalid UTF-8");         /* overlong */
  fails("A=\xF4\x90\x80\x80", "line 1: invalid UTF-8"); /* above U+10FFFF */
  fails("A=ok\rB=\xE2\x82", "line 2: invalid UTF-8");   /* truncated at the end */
  one("A=\xF0\x9F\x98\x80 \xE2\x9C\x85", "A", "\xF0\x9F\x98\x80 \xE2\x9C\x85");
}

static void test_duplicate_names_are_errors(void **state) {
  (void)state;
  fails("A=1\nTOKEN=first\nB=2\n\nTOKEN=second\n",
        "line 5: duplicate name TOKEN (first defined on line 2)");
  fails("export A=1\nA: 2", "line 2: duplicate name A (first defined on line 1)");
  /* The earliest second definition is the one reported. */
  fails("B=1\nA=1\nA=2\nB=2\nA=3\n", "line 3: duplicate name A (first defined on line 2)");
  /* Names differ by case: not duplicates. */
  th_dotenv *env = parse_ok("token=1\nTOKEN=2\n");
  assert_int_equal(env->count, 2);
  th_dotenv_free(env);
}

static void test_no_value_in_any_message(void **state) {
  (void)state;
  static const char *const files[] = {
      "TOKEN=\"s3cr3t-value\" s3cr3t-tail",     "TOKEN='s3cr3t-value", "s3cr3t-value",
      "TOKEN=s3cr3t-value\nTOKEN=s3cr3t-value", "s3cr3t value=1",
  };
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    th_err err = {0};
    assert_null(th_dotenv_parse(files[i], strlen(files[i]), &err));
    assert_null(strstr(err.message, "s3cr3t"));
  }
}

/* Many definitions: duplicates are found by sorting, and the output stays in file order. */
static void test_large_file(void **state) {
  (void)state;
  size_t n = 20000;
  char *text = malloc(n * 24);
  assert_non_null(text);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += (size_t)sprintf(text + len, "VAR_%zu=value %zu\n", i, i);
  th_err err = {0};
  th_dotenv *env = th_dotenv_parse(text, len, &err);
  assert_non_null(env);
  assert_int_equal(env->count, n);
  assert_string_equal(env->vars[12345].name, "VAR_12345");
  assert_string_equal(env->vars[12345].value, "value 12345");
  th_dotenv_free(env);
  len += (size_t)sprintf(text + len, "VAR_777=again\n");
  assert_null(th_dotenv_parse(text, len, &err));
  assert_string_equal(err.message,
                      "line 20001: duplicate name VAR_777 (first defined on line 778)");
  free(text);
}

static void test_check_var(void **state) {
  (void)state;
  th_err err = {0};
  assert_int_equal(th_dotenv_check_var("OK_NAME.x-1", "any \"value\"\n\xC3\xA9", 1, &err), 0);
  assert_int_equal(th_dotenv_check_var("", "v", 3, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  assert_string_equal(err.message, "env var 3: invalid name (allowed: A-Z a-z 0-9 _ . -)");
  assert_int_equal(th_dotenv_check_var("BAD NAME", "v", 4, &err), -1);
  assert_string_equal(err.message, "env var 4: invalid name (allowed: A-Z a-z 0-9 _ . -)");
  assert_int_equal(th_dotenv_check_var("TOKEN", "bad \xFF byte", 5, &err), -1);
  assert_string_equal(err.message, "env var 5 (TOKEN): value is not valid UTF-8");
}

static void test_free_null(void **state) {
  (void)state;
  th_dotenv_free(NULL);
  assert_null(th_dotenv_get(NULL, "A"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_capture_matches_deploy),
      cmocka_unit_test(test_comments_blank_lines_and_empty_file),
      cmocka_unit_test(test_export_prefix),
      cmocka_unit_test(test_empty_values),
      cmocka_unit_test(test_unquoted_values),
      cmocka_unit_test(test_hash_inside_unquoted_value_is_kept_with_warning),
      cmocka_unit_test(test_quoted_values),
      cmocka_unit_test(test_escapes_only_newlines_in_double_quotes),
      cmocka_unit_test(test_quote_ends_where_dotenv_ends_it),
      cmocka_unit_test(test_multiline_quoted_values),
      cmocka_unit_test(test_line_endings_and_bom),
      cmocka_unit_test(test_invalid_lines_name_the_line_not_the_text),
      cmocka_unit_test(test_quote_errors),
      cmocka_unit_test(test_nul_and_invalid_utf8),
      cmocka_unit_test(test_duplicate_names_are_errors),
      cmocka_unit_test(test_no_value_in_any_message),
      cmocka_unit_test(test_large_file),
      cmocka_unit_test(test_check_var),
      cmocka_unit_test(test_free_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
