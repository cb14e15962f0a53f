using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Distill.Generators.Tests.Mutation;

/// <summary>One mutant: the experiment files handed to the generator together (usually one), and what was done to them.</summary>
public sealed record Mutant(int Index, string Description, IReadOnlyList<(string Path, string Text)> Files);

/// <summary>
/// Deterministic mutants of experiment files: the mistakes people make and the inputs an attacker would try.
/// Each mutant applies one to three edits to one seed file (a few add a second file, for cycles of <c>from:</c>
/// and colliding experiment names): deleted, duplicated and moved lines; values of the wrong type; extreme numbers
/// (outside int and long, NaN and infinities); unknown keys (misspelt ones) and duplicate keys; deep nesting (up to
/// 10,000 levels, flow and block); strings C# must escape (quotes, backslashes, U+2028/U+2029, control characters,
/// bidi overrides, lone surrogates); BOM, CRLF, lone CR and binary bytes; unknown taps, models, losses and data sets;
/// names that collide in generated code; raw C# where a value belongs; empty collections; garbage and truncation.
/// Mutant <c>k</c> of seed <c>s</c> is the same on every machine and run (its own <see cref="Random"/>).
/// </summary>
public sealed class YamlMutator
{
    private readonly IReadOnlyList<(string Path, string Text)> _seeds;
    private readonly IReadOnlyList<(string Path, string Text)> _bases;

    /// <param name="seeds">The experiment files that are mutated.</param>
    /// <param name="bases">The base files they may extend, handed to the generator unchanged with every mutant.</param>
    public YamlMutator(IReadOnlyList<(string Path, string Text)> seeds, IReadOnlyList<(string Path, string Text)>? bases = null)
    {
        if (seeds.Count == 0) throw new ArgumentException("no seed files", nameof(seeds));
        _seeds = seeds;
        _bases = bases ?? [];
    }

    /// <summary>The repository's own experiment files (<c>experiments/**/*.distill.yaml</c>), in path order, with repository-relative paths.</summary>
    public static IReadOnlyList<(string Path, string Text)> RepositoryExperiments(string repoRoot) => RepositoryFiles(repoRoot, "*.distill.yaml");

    /// <summary>The repository's base files (<c>experiments/**/*.distill-base.yaml</c>), which experiments extend.</summary>
    public static IReadOnlyList<(string Path, string Text)> RepositoryBases(string repoRoot) => RepositoryFiles(repoRoot, "*.distill-base.yaml");

    private static IReadOnlyList<(string Path, string Text)> RepositoryFiles(string repoRoot, string pattern) =>
        Directory.GetFiles(Path.Combine(repoRoot, "experiments"), pattern, SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(repoRoot, p).Replace('\\', '/'))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (p, File.ReadAllText(Path.Combine(repoRoot, p))))
            .ToList();

    public Mutant Create(int index, int seed)
    {
        var random = new Random(unchecked(seed * 1_000_003 + index));
        var (path, text) = _seeds[random.Next(_seeds.Count)];
        var state = new State(random, path, text, _seeds);
        var edits = random.Next(1, 4);
        var what = new List<string>();
        // Deep nesting makes the text long: it is the last edit, so that the others work on the file's own lines.
        var ops = Enumerable.Range(0, edits).Select(_ => s_operators[random.Next(s_operators.Length)]).ToList();
        foreach (var op in ops.Where(o => o.Method.Name != nameof(DeepNesting)).Concat(ops.Where(o => o.Method.Name == nameof(DeepNesting))))
            what.Add(op(state));
        var files = new List<(string, string)> { (state.MutantPath(index), state.Text) };
        files.AddRange(state.Companions.Select((c, i) => ($"{Path.GetDirectoryName(path)!.Replace('\\', '/')}/companion{i}-m{index}.distill.yaml", c)));
        files.AddRange(_bases);
        return new Mutant(index, $"{path}: {string.Join("; ", what)}", files);
    }

    private sealed class State(Random random, string path, string text, IReadOnlyList<(string Path, string Text)> seeds)
    {
        public Random Random { get; } = random;
        public string Path { get; } = path;
        public string Text { get; set; } = text;
        public IReadOnlyList<(string Path, string Text)> Seeds { get; } = seeds;
        public List<string> Companions { get; } = new();

        public string MutantPath(int index) => Path.Replace(".distill.yaml", $".m{index}.distill.yaml");

        public List<string> Lines => Text.Split('\n').ToList();

        public T Pick<T>(IReadOnlyList<T> items) => items[Random.Next(items.Count)];

        /// <summary>A random match of <paramref name="pattern"/> in the text, or null.</summary>
        public Match? PickMatch(Regex pattern)
        {
            var matches = pattern.Matches(Text);
            return matches.Count == 0 ? null : matches[Random.Next(matches.Count)];
        }

        public void Replace(Match m, string replacement, int group = 0)
        {
            var g = m.Groups[group];
            Text = Text[..g.Index] + replacement + Text[(g.Index + g.Length)..];
        }

        /// <summary>The experiment's name as written (<c>name: x</c>), if the line is still there.</summary>
        public string? Name => Regex.Match(Text, @"^name:\s*([^\s#]+)", RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : null;
    }

    private delegate string Operator(State s);

    private static readonly Operator[] s_operators =
    {
        DeleteLine, DuplicateLine, MoveLine, WrongType, WrongType, ExtremeNumber, ExtremeNumber, MisspellKey, MisspellKey, DuplicateInlineKey,
        DeepNesting, EscapedString, EscapedString, Encoding, Encoding, UnknownReference, UnknownType, FromCycle, NameCollision, NameCollision,
        RawCode, EmptyCollection, Garbage, Truncate, Reindent, AddSetting,
    };

    // ---- lines -----------------------------------------------------------------------------------

    private static string DeleteLine(State s)
    {
        var lines = s.Lines;
        var i = s.Random.Next(lines.Count);
        lines.RemoveAt(i);
        s.Text = string.Join('\n', lines);
        return $"deleted line {i + 1}";
    }

    private static string DuplicateLine(State s)
    {
        var lines = s.Lines;
        var i = s.Random.Next(lines.Count);
        var at = s.Random.Next(2) == 0 ? i : s.Random.Next(lines.Count + 1);
        lines.Insert(at, lines[i]);
        s.Text = string.Join('\n', lines);
        return $"duplicated line {i + 1} at {at + 1}";
    }

    private static string MoveLine(State s)
    {
        var lines = s.Lines;
        var i = s.Random.Next(lines.Count);
        var line = lines[i];
        lines.RemoveAt(i);
        var at = s.Random.Next(lines.Count + 1);
        lines.Insert(at, line);
        s.Text = string.Join('\n', lines);
        return $"moved line {i + 1} to {at + 1}";
    }

    private static string Truncate(State s)
    {
        var at = s.Random.Next(s.Text.Length + 1);
        s.Text = s.Text[..at];
        return $"truncated at {at}";
    }

    private static string Reindent(State s)
    {
        var lines = s.Lines;
        var i = s.Random.Next(lines.Count);
        lines[i] = new string(s.Random.Next(3) == 0 ? '\t' : ' ', s.Random.Next(0, 7)) + lines[i].TrimStart();
        s.Text = string.Join('\n', lines);
        return $"re-indented line {i + 1}";
    }

    // ---- values ----------------------------------------------------------------------------------

    /// <summary>A <c>key: value</c> inside a flow or block mapping; group 1 is the key, group 2 the value.</summary>
    private static readonly Regex s_keyValue = new(@"(?<=[{,]\s*|^\s*)([A-Za-z_][\w-]*):[ \t]+([^,{}\[\]\n#]+|\[[^\[\]\n]*\])", RegexOptions.Multiline);

    private static readonly Regex s_number = new(@"(?<![\w.])-?\d+(\.\d+)?([eE][-+]?\d+)?(?![\w.])");

    private static readonly string[] WrongTypedValues =
    {
        "[1, 2]", "[]", "{}", "{ a: 1 }", "fast", "true", "false", "~", "null", "''", "\"\"", "1.5", "-3", "0", "student.logits", "[student.logits]",
        "{ model: CifarResNet }", "[[1], [2]]", "[a, b]", "yes", "0x1F", "0o17", "1_000", "+5", "007", "1e5", ".5", "5.", "-", "?", "NaN", "Infinity",
    };

    private static string WrongType(State s)
    {
        if (s.PickMatch(s_keyValue) is not { } m) return "no value to retype";
        var value = s.Pick(WrongTypedValues);
        s.Replace(m, value, 2);
        return $"'{m.Groups[1].Value}' set to {value}";
    }

    private static readonly string[] ExtremeNumbers =
    {
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "2147483647", "2147483648", "-2147483648",
        "-2147483649", "4294967296", "99999999999999999999999999", "1e999", "-1e999", "1e308", "1.7976931348623157e308", "3.5e38", "-3.5e38",
        "4.9e-324", "1e-400", ".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.inf", ".Inf", "-.INF", "0", "-0", "0.0", "-1", "1e-9", "123456789.123456789",
    };

    private static string ExtremeNumber(State s)
    {
        if (s.PickMatch(s_number) is not { } m) return "no number";
        var value = s.Pick(ExtremeNumbers);
        s.Replace(m, value);
        return $"number {m.Value} set to {value}";
    }

    private static readonly Regex s_key = new(@"(?<=[{,]\s*|^\s*)([A-Za-z_][\w-]*):", RegexOptions.Multiline);

    private static string MisspellKey(State s)
    {
        if (s.PickMatch(s_key) is not { } m) return "no key";
        var key = m.Groups[1].Value;
        var chars = key.ToList();
        var i = s.Random.Next(chars.Count);
        switch (s.Random.Next(4))
        {
            case 0: chars.Insert(i, (char)('a' + s.Random.Next(26))); break;
            case 1 when chars.Count > 1: chars.RemoveAt(i); break;
            case 2 when i + 1 < chars.Count: (chars[i], chars[i + 1]) = (chars[i + 1], chars[i]); break;
            default: chars[i] = (char)('a' + s.Random.Next(26)); break;
        }
        var misspelt = new string(chars.ToArray());
        s.Replace(m, misspelt, 1);
        return $"key '{key}' misspelt '{misspelt}'";
    }

    private static string DuplicateInlineKey(State s)
    {
        if (s.PickMatch(new Regex(@"(?<=\{\s*)([A-Za-z_][\w-]*:[ \t]+[^,{}\n]+)")) is not { } m) return "no inline pair";
        s.Replace(m, m.Value + ", " + m.Value);
        return $"duplicated '{m.Value.Trim()}'";
    }

    private static string AddSetting(State s)
    {
        // A setting the schema does not have, or one of another optimizer, schedule or section, beside real ones.
        var settings = new[]
        {
            ("sgd: {", "momentun: 0.9, "), ("sgd: {", "betas: [0.9, 0.999], "), ("sgd: {", "nesterov: true, "), ("sgd: {", "nesterov: true, dampening: 0.5, "),
            ("sgd: {", "eps: 1e-8, "), ("sgd: {", "dampening: -1, "), ("sgd: {", "lr: fast, "), ("sgd: {", "amsgrad: true, "), ("sgd: {", "weight_decay: .NaN, "),
            ("multistep: {", "milestone: [1], "), ("multistep: {", "gamma: -1, "), ("multistep: {", "milestones: [a, b], "), ("multistep: {", "step_size: 3, "),
            ("schedule: {", "clip_grad_norm: -1, "), ("schedule: {", "warmup: 9999999999, "), ("schedule: {", "cosine: { eta_min: .inf }, "),
            ("schedule: {", "step: { step_size: 0 }, "), ("schedule: {", "step: { step_size: 2 }, "), ("schedule: {", "cosine: { eta_min: 0.001 }, "),
            ("eval: {", "every: 0, "), ("eval: {", "metrics: [top0], "), ("eval: {", "metrics: [accuracy], "), ("eval: {", "flip: 1, "),
            ("args: {", "widht: 2, "), ("args: {", "seed: System.IO.File.ReadAllText(\"/etc/hostname\").Length, "), ("args: {", "split: \"a\\\"b\\\\c\\Ld\\Pe\\x01\", "),
            ("{ loss: ", "temprature: 4, "), ("{ loss: ", "schedule: { warmup: -1 }, "), ("{ loss: ", "schedule: { decay: linear }, "), ("{ loss: ", "weight: .nan, "),
        };
        var candidates = settings.Where(x => s.Text.Contains(x.Item1, StringComparison.Ordinal)).ToList();
        if (candidates.Count == 0) return "no place for a setting";
        var (anchor, setting) = s.Pick(candidates);
        var positions = new List<int>();
        for (var i = s.Text.IndexOf(anchor, StringComparison.Ordinal); i >= 0; i = s.Text.IndexOf(anchor, i + 1, StringComparison.Ordinal)) positions.Add(i + anchor.Length);
        var at = s.Pick(positions);
        s.Text = s.Text[..at] + " " + setting + s.Text[at..].TrimStart();
        return $"added '{setting.Trim().TrimEnd(',')}' after '{anchor}'";
    }

    private static string EmptyCollection(State s)
    {
        var options = new[]
        {
            (@"^losses:[\s\S]*?(?=^\S|\z)", "losses: {}\n"), (@"milestones: \[[^\]]*\]", "milestones: []"), (@"multistep: \{[^{}]*\}", "multistep: {}"),
            (@"args: \{[^{}]*\}", "args: {}"), (@"metrics: \[[^\]]*\]", "metrics: []"), (@"seeds: \[[^\]]*\]", "seeds: []"), (@"cosine: \{[^{}]*\}", "cosine: ~"),
            (@"^optimizer:.*$", "optimizer: {}"), (@"^schedule:.*$", "schedule: {}"), (@"^eval:.*$", "eval: {}"), (@"^data:", "data: {}\nold_data:"),
        };
        var (pattern, replacement) = s.Pick(options);
        var m = s.PickMatch(new Regex(pattern, RegexOptions.Multiline));
        if (m is null) return "nothing to empty";
        s.Replace(m, replacement);
        return $"emptied to '{replacement.Trim()}'";
    }

    // ---- nesting ---------------------------------------------------------------------------------

    private static readonly int[] Depths = { 2, 10, 65, 200, 1_000, 1_600, 5_000, 10_000 };

    private static string DeepNesting(State s)
    {
        var depth = s.Pick(Depths);
        var balanced = s.Random.Next(4) != 0;
        string value;
        switch (s.Random.Next(4))
        {
            case 0: value = new string('[', depth) + "1" + (balanced ? new string(']', depth) : ""); break;
            case 1:
                var open = new StringBuilder();
                for (var i = 0; i < depth; i++) open.Append("{a: ");
                value = open + "1" + (balanced ? new string('}', depth) : "");
                break;
            case 2:
                // Block mappings, one level per line (indented by one more space each: the text grows as the square of the depth).
                var block = new StringBuilder();
                depth = Math.Min(depth, 1_600);
                for (var i = 0; i < depth; i++) block.Append('\n').Append(' ', i + 1).Append("k").Append(i.ToString(CultureInfo.InvariantCulture)).Append(':');
                value = block + " 1";
                break;
            default:
                // Block sequences of sequences: "- - - - 1".
                var seq = new StringBuilder();
                for (var i = 0; i < depth; i++) seq.Append("- ");
                value = "\n  " + seq + "1";
                break;
        }
        var lines = s.Lines;
        var candidates = Enumerable.Range(0, lines.Count).Where(i => Regex.IsMatch(lines[i], @"^\w[\w-]*:")).ToList();
        var at = candidates.Count > 0 ? s.Pick(candidates) : 0;
        var key = Regex.Match(lines.Count > 0 ? lines[at] : "", @"^(\w[\w-]*):").Groups[1].Value;
        if (key.Length == 0) key = "nested";
        if (lines.Count == 0) lines.Add("");
        lines[at] = key + ": " + value;
        s.Text = string.Join('\n', lines);
        return $"'{key}' nested {depth} levels{(balanced ? "" : " (unclosed)")}";
    }

    // ---- strings ---------------------------------------------------------------------------------

    private static readonly string[] EscapedStrings =
    {
        "\"quote \\\" and backslash \\\\\"", "\"line\\Lseparator\"", "\"paragraph\\Pseparator\"", "\"next\\Nline\"", "\"nul\\0byte\"", "\"bell\\a\\x01\\x1b\"",
        "\"tab\\tand\\nnewline\"", "\"bidi \\u202E override\"", "\"zero\\u200Bwidth\"", "\"lone \\uD800 surrogate\"", "\"emoji \\U0001F600\"", "\"\\uFEFF bom\"",
        "'single ''quoted'' \"double\"'", "\"*/ </summary> <!-- & {0} {{x}}\"", "\"\\\"); System.Environment.Exit(1); //\"", "\"a\\rb\"", "\"\\u0085\\u2028\\u2029\"",
        "\"non-character \\uFFFF\"", "\"private \\uE000 use\"", "|\n  literal\n  block", ">\n  folded\n  block", "\"C:\\\\path\\\\file.safetensors\"",
    };

    private static readonly Regex s_stringValue = new(@"(?<=\b(?:name|paper|description|from|checkpoint|split|root|group|rank_by|reduction|head|dataset|model|loss):[ \t]+)([^,{}\[\]\n#]+)", RegexOptions.Multiline);

    private static string EscapedString(State s)
    {
        var value = s.Pick(EscapedStrings);
        if (s.Random.Next(3) == 0)
        {
            // A new string argument on a data set or model (a parameter that exists, or one that does not).
            var arg = s.Pick(new[] { "split", "root", "path", "head", "paper", "pairs" });
            var m0 = s.PickMatch(new Regex(@"args: \{ "));
            if (m0 is not null && !value.Contains('\n'))
            {
                s.Replace(m0, $"args: {{ {arg}: {value}, ");
                return $"{arg}: {value}";
            }
        }
        if (s.PickMatch(s_stringValue) is not { } m) return "no string value";
        if (value.Contains('\n') && m.Index > 0 && s.Text.LastIndexOf('{', m.Index) > s.Text.LastIndexOf('\n', m.Index)) value = value.Replace("\n", " ");
        s.Replace(m, value, 1);
        return $"string value set to {value.Replace("\n", "\\n")}";
    }

    private static string RawCode(State s)
    {
        var code = s.Pick(new[]
        {
            "System.IO.File.ReadAllText(\"/etc/hostname\").Length", "int.MaxValue", "1 + 1", "new int[3]", "default", "Environment.Exit(1)",
            "0); System.Environment.Exit(1); //", "classes", "\"text\"", "@class", "global::System.Int32.MaxValue",
        });
        if (s.PickMatch(s_number) is not { } m) return "no number for code";
        s.Replace(m, code);
        return $"number {m.Value} set to code {code}";
    }

    // ---- bytes and line ends -----------------------------------------------------------------------

    private static string Encoding(State s)
    {
        switch (s.Random.Next(8))
        {
            case 0:
                s.Text = "\uFEFF" + s.Text;
                return "BOM";
            case 1:
                s.Text = s.Text.Replace("\n", "\r\n");
                return "CRLF";
            case 2:
                s.Text = s.Text.Replace("\n", "\r");
                return "CR line ends";
            case 3:
            {
                var at = s.Random.Next(s.Text.Length + 1);
                s.Text = s.Text[..at] + "\uFEFF" + s.Text[at..];
                return $"BOM at {at}";
            }
            case 4:
            {
                var bytes = new byte[s.Random.Next(1, 16)];
                s.Random.NextBytes(bytes);
                var at = s.Random.Next(s.Text.Length + 1);
                s.Text = s.Text[..at] + System.Text.Encoding.Latin1.GetString(bytes) + s.Text[at..];
                return $"{bytes.Length} binary bytes at {at}";
            }
            case 5:
            {
                // Arbitrary UTF-16 code units, lone surrogates included.
                var chars = new char[s.Random.Next(1, 8)];
                for (var i = 0; i < chars.Length; i++) chars[i] = (char)s.Random.Next(0, 0x10000);
                var at = s.Random.Next(s.Text.Length + 1);
                s.Text = s.Text[..at] + new string(chars) + s.Text[at..];
                return $"{chars.Length} random UTF-16 units at {at}";
            }
            case 6:
            {
                var at = s.Random.Next(s.Text.Length + 1);
                s.Text = s.Text[..at] + "\0" + s.Text[at..];
                return $"NUL at {at}";
            }
            default:
            {
                // Unicode line breaks YAML does not know but C# and Roslyn's line table do.
                var brk = s.Pick(new[] { "\u2028", "\u2029", "\u0085", "\u000B", "\u000C" });
                var at = s.Random.Next(s.Text.Length + 1);
                s.Text = s.Text[..at] + brk + s.Text[at..];
                return $"U+{(int)brk[0]:X4} at {at}";
            }
        }
    }

    private static readonly string[] GarbageTexts =
    {
        "", "[", "]", "{", "}", ":", "- ", "&a", "*a", "!!int", "!!str", "'", "\"", "|", ">", "#", "%", "@", "`", "\t", "\u00ff", "\uFFFD", "---",
        "...", "? ", ",", "key: value", "[1, 2", "{a: b", "null", "~", "-1e999", "1e999", "0x1F", "true", "9999999999999999999999", "student.logits",
        "a.b.c", " ", "\r", "\r\n", "\\", "\u2028", "<<: *a", "%YAML 1.2", "!custom", "--- !!map", "\n---\nname: second\n",
    };

    private static string Garbage(State s)
    {
        var g = s.Pick(GarbageTexts);
        var at = s.Random.Next(s.Text.Length + 1);
        s.Text = s.Text[..at] + g + s.Text[at..];
        return $"inserted {Show(g)} at {at}";
    }

    // ---- references and names ----------------------------------------------------------------------

    private static string UnknownReference(State s)
    {
        var m = s.PickMatch(new Regex(@"\b(student|teacher|batch|[a-z_]+)\.([a-z_0-9]+)\b"));
        if (m is null) return "no reference";
        var replacement = s.Random.Next(5) switch
        {
            0 => m.Groups[1].Value + "." + m.Groups[2].Value.TrimEnd('s') + "x",
            1 => "teachr." + m.Groups[2].Value,
            2 => m.Groups[1].Value + ".stage9",
            3 => "batch.boxes",
            _ => m.Groups[2].Value,
        };
        s.Replace(m, replacement);
        return $"reference {m.Value} → {replacement}";
    }

    private static string UnknownType(State s)
    {
        var m = s.PickMatch(new Regex(@"(?<=\b(?:model|dataset|loss|kind):[ \t]+)([A-Za-z_0-9]+)"));
        if (m is null) return "no type";
        var name = m.Value;
        var replacement = s.Random.Next(4) switch
        {
            0 => name.Length > 2 ? name.Remove(s.Random.Next(name.Length), 1) : name + "x",
            1 => name.ToUpperInvariant(),
            2 => "System.IO.File",
            _ => name + "<int>",
        };
        s.Replace(m, replacement);
        return $"type {name} → {replacement}";
    }

    private static string FromCycle(State s)
    {
        var name = s.Name;
        if (name is null) return "no name for a cycle";
        var from = s.PickMatch(new Regex(@"(?<=\bfrom:[ \t]+)([\w-]+)"));
        if (s.Random.Next(2) == 0 || from is null)
        {
            // The experiment trains its own teacher.
            if (from is not null) s.Replace(from, name);
            else s.Text = Regex.Replace(s.Text, @"^(teacher: \{[^\n]*?)( \}\s*)$", $"$1, from: {name}$2", RegexOptions.Multiline);
            return "from: itself";
        }
        // A second experiment, named as this one's teacher run, whose teacher comes from this one.
        var other = s.Pick(s.Seeds).Text;
        other = Regex.Replace(other, @"^name:.*$", "name: " + from.Value, RegexOptions.Multiline);
        other = Regex.IsMatch(other, @"\bfrom:[ \t]+[\w-]+")
            ? Regex.Replace(other, @"(?<=\bfrom:[ \t]+)[\w-]+", name)
            : Regex.Replace(other, @"^(student:)", $"teacher: {{ model: CifarResNet, args: {{ depth: 56, classes: 100 }}, from: {name} }}\n$1", RegexOptions.Multiline);
        s.Companions.Add(other);
        return $"cycle {name} → {from.Value} → {name}";
    }

    private static readonly string[] CollidingNames =
    {
        "total", "Total", "evaluate", "equals", "Equals", "depends_on", "dispose", "loss_breakdown", "train_data", "val_data", "to_string", "get_hash_code",
        "get_type", "finalize", "memberwise_clone", "run", "train", "info", "models", "loss_terms", "seeds", "paper", "configuration", "experiment_name",
        "compute_loss", "declared_epochs", "create_optimizer", "dispose_modules", "class", "int", "scope", "epoch", "epochs", "image", "label",
        "student_logits", "teacher_out", "hint_adapter", "a-b", "a_b", "ab-c", "a-bc",
    };

    private static string NameCollision(State s)
    {
        switch (s.Random.Next(4))
        {
            case 0:
            {
                // Another experiment whose generated class (and file) names collide with this one's.
                var name = s.Name;
                if (name is null) return "no name to collide with";
                var variant = s.Random.Next(3) switch
                {
                    0 => name.Replace('-', '_'),
                    1 => name.ToUpperInvariant(),
                    _ => name.Length > 2 ? name[..1] + "-" + name[1..].Replace("-", "") : name + "_",
                };
                var other = Regex.Replace(s.Pick(s.Seeds).Text, @"^name:.*$", "name: " + variant, RegexOptions.Multiline);
                s.Companions.Add(other);
                return $"companion experiment named {variant}";
            }
            case 1:
            {
                // A loss term key renamed (to a reserved or colliding name) or duplicated in another case.
                var m = s.PickMatch(new Regex(@"(?<=^  )([a-z_][\w-]*)(?=: \{ loss:)", RegexOptions.Multiline));
                if (m is null) return "no term";
                var name = s.Random.Next(3) == 0 ? char.ToUpperInvariant(m.Value[0]) + m.Value[1..] : s.Pick(CollidingNames);
                var line = s.Text.Substring(m.Index, s.Text.IndexOf('\n', m.Index) is var e and >= 0 ? e - m.Index : s.Text.Length - m.Index);
                if (s.Random.Next(2) == 0) s.Text = s.Text.Insert(m.Index, name + line[m.Length..] + "\n  ");
                else s.Replace(m, name);
                return $"loss term {m.Value} → {name}";
            }
            case 2:
            {
                // Teachers under 'teachers:' with colliding names.
                var m = s.PickMatch(new Regex(@"^teacher: (\{.*\})\s*$", RegexOptions.Multiline));
                if (m is null) return "no teacher";
                var a = s.Pick(CollidingNames);
                var b = s.Random.Next(2) == 0 ? a.Replace('_', '-') : "teacher";
                s.Replace(m, $"teachers:\n  {a}: {m.Groups[1].Value}\n  {b}: {m.Groups[1].Value}");
                return $"teachers {a} and {b}";
            }
            default:
            {
                // An adapter whose name collides with a generated member or local.
                var m = s.PickMatch(new Regex(@"^losses:", RegexOptions.Multiline));
                if (m is null || !s.Text.Contains("teacher:", StringComparison.Ordinal)) return "no place for an adapter";
                var a = s.Pick(CollidingNames);
                s.Replace(m, $"adapters:\n  {a}: {{ kind: conv1x1, from: student.stage3, to: teacher.stage3 }}\nlosses:\n  {a}_fit: {{ loss: fitnet_mse, student: {a}, teacher: teacher.stage3 }}");
                return $"adapter {a}";
            }
        }
    }

    private static string Show(string s) => "'" + string.Concat(s.Select(c => c < ' ' || c > '~' ? $"\\u{(int)c:X4}" : c.ToString())) + "'";
}
