using System.Text;

namespace Distill.Generators.Tests;

/// <summary>Thousands of randomly broken experiment files never crash the generator.</summary>
public class RobustnessTests
{
    private const string Seed = """
        name: hinton-resnet56-resnet20
        paper: Hinton et al. 2015
        seeds: [1, 2, 3]
        data:
          train: { dataset: SyntheticImages, args: { classes: 100, samples: 20000, seed: 1 } }
          val: { dataset: SyntheticImages, args: { classes: 100, samples: 2000, seed: 2 } }
          batch: 64
        teacher: { model: CifarResNet, args: { depth: 56, classes: 100 }, from: teacher-resnet56, taps: [logits] }
        student:
          model: CifarResNet
          args:
            depth: 20
            classes: 100
        adapters:
          hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9, schedule: { warmup: 10 } }
        optimizer:
          sgd: { lr: 0.05, momentum: 0.9, weight_decay: 5e-4 }
          groups: [ { params: [student], lr: 0.05 }, { params: adapters, lr: 0.1 } ]
        schedule: { epochs: 240, multistep: { milestones: [150, 180, 210], gamma: 0.1 }, warmup: 5, clip_grad_norm: 5.0 }
        eval: { metrics: [top1, top5], every: 1 }
        """;

    private static readonly string[] Garbage =
    {
        "", "[", "]", "{", "}", ":", "- ", "&a", "*a", "!!int", "'", "\"", "|", ">", "#", "%", "@", "`", "\t", "\0", "\u00ff",
        "\uFFFD", "---", "...", "? ", ",", "key: value", "[1, 2", "{a: b", "null", "~", "-1e999", "1e999", "0x1F", "true",
        "9999999999999999999999", "student.logits", "a.b.c", " ", "\r", "\r\n", "\\", "\u2028",
    };

    private static string Mutate(string text, Random random)
    {
        var lines = text.Split('\n').ToList();
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits && lines.Count > 0; e++)
        {
            var i = random.Next(lines.Count);
            switch (random.Next(8))
            {
                case 0: lines.RemoveAt(i); break;
                case 1: var j = random.Next(lines.Count); (lines[i], lines[j]) = (lines[j], lines[i]); break;
                case 2: lines.Insert(i, lines[random.Next(lines.Count)]); break;
                case 3:
                    var pos = random.Next(lines[i].Length + 1);
                    lines[i] = lines[i].Insert(pos, Garbage[random.Next(Garbage.Length)]);
                    break;
                case 4:
                    // Replace a value after a colon with a random other value.
                    var colon = lines[i].IndexOf(':');
                    if (colon >= 0) lines[i] = lines[i][..(colon + 1)] + " " + Garbage[random.Next(Garbage.Length)];
                    break;
                case 5:
                    var bytes = new byte[random.Next(1, 8)];
                    random.NextBytes(bytes);
                    lines[i] += Encoding.Latin1.GetString(bytes);
                    break;
                case 6: lines[i] = new string(' ', random.Next(0, 6)) + lines[i].TrimStart(); break;
                default: lines = lines.Take(i).ToList(); break;
            }
        }
        return string.Join('\n', lines);
    }

    [Fact]
    public void Three_thousand_mutated_files_yield_diagnostics_or_code_never_an_exception()
    {
        var random = new Random(20261121);
        var withDiagnostics = 0;
        var withCode = 0;
        for (var k = 0; k < 3000; k++)
        {
            var text = Mutate(Seed, random);
            var result = GeneratorHarness.Run(new[] { ($"m{k}.distill.yaml", text) });
            var crashed = result.GeneratorDiagnostics.Where(d => !d.Id.StartsWith("DSL", StringComparison.Ordinal)).ToList();
            Assert.True(crashed.Count == 0, $"mutation {k} crashed the generator: {string.Join("; ", crashed.Select(d => d.GetMessage()))}\n---\n{text}");
            var hasDiagnostics = result.GeneratorDiagnostics.Length > 0;
            var hasCode = result.Run.GeneratedTrees.Length > 0;
            Assert.True(hasDiagnostics || hasCode, $"mutation {k} produced neither diagnostics nor code:\n{text}");
            if (hasCode) Assert.Empty(result.Errors);
            if (hasDiagnostics) withDiagnostics++;
            if (hasCode) withCode++;
        }
        Assert.True(withDiagnostics > 1000, $"only {withDiagnostics} mutations were diagnosed");
        Assert.True(withCode > 10, $"only {withCode} mutations still generated code");
    }

    private static readonly string[] CodeGarbage =
    {
        "", ")", "(", ",", "]", "[", "{", "}", ";", "=>", "=", ".", "null", "default", "new()", "new[] { }", "[]", "\"\"", "\"x y\"", "-1", "0",
        "1e999", "4.5f", "'c'", "true", "Taps", "Taps.Student", "Batch.", "Loss.", "Hint", "this", "[Loss]", "[Student]", "[Teacher(From = 1)]",
        "[Adapter]", "[Experiment(null)]", "[Seeds(new long[] { 1 })]", "static", "partial", "class", "typeof(int)", "nameof(Hint)", "T",
        "Adapter.Linear(Hint, Hint)", "Loss.hinton_kd()", "#if X", "/*", "\u00ff",
    };

    /// <summary>Token-level edits of a class: deletions, duplications, swaps and replacements with fragments of the DSL.</summary>
    private static string MutateCode(string text, Random random)
    {
        for (var e = random.Next(1, 4); e > 0; e--)
        {
            var tokens = Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(text).GetRoot().DescendantTokens().Where(t => t.Span.Length > 0).ToList();
            if (tokens.Count == 0) break;
            var token = tokens[random.Next(tokens.Count)];
            var other = tokens[random.Next(tokens.Count)].ToString();
            var replacement = random.Next(4) switch
            {
                0 => "",
                1 => token + " " + token,
                2 => other,
                _ => CodeGarbage[random.Next(CodeGarbage.Length)],
            };
            text = text[..token.SpanStart] + replacement + text[token.Span.End..];
        }
        return text;
    }

    [Fact]
    public void Mutated_experiment_classes_never_crash_the_generator()
    {
        var random = new Random(20261122);
        var diagnosed = 0;
        for (var k = 0; k < 400; k++)
        {
            var text = MutateCode(k % 2 == 0 ? CodeFirstSources.KdClass : CodeFirstSources.MultiClass, random);
            var result = GeneratorHarness.Run(Array.Empty<(string, string)>(), CodeFirstSources.UserTypes, text);
            var crashed = result.GeneratorDiagnostics.Where(d => !d.Id.StartsWith("DSL", StringComparison.Ordinal)).ToList();
            Assert.True(crashed.Count == 0, $"mutation {k} crashed the generator: {string.Join("; ", crashed.Select(d => d.GetMessage()))}\n---\n{text}");
            // Whatever the user's code, the generated code itself stays valid.
            var generatedErrors = result.Errors.Where(d => d.Location.SourceTree?.FilePath.StartsWith("Distill.Generators", StringComparison.Ordinal) == true).ToList();
            Assert.True(generatedErrors.Count == 0, $"mutation {k} generated invalid code: {string.Join("; ", generatedErrors)}\n---\n{text}");
            if (result.GeneratorDiagnostics.Length > 0) diagnosed++;
        }
        Assert.True(diagnosed > 150, $"only {diagnosed} mutations were diagnosed");
    }
}
