using System.Collections.Immutable;
using System.Text;
using Distill.Generators.Emitting;
using Distill.Generators.Model;
using Distill.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Distill.Generators.Tests;

/// <summary>
/// The generator under bad input (issue 16): one test per root cause the fuzzer found, each asserting the diagnostic's id,
/// location and message (or, where the input is fine, that the generated code compiles without a warning). The experiments
/// bind against the real model zoo, data sets and runtime, so the fused loss and the training loop are generated too.
/// </summary>
public class BadInputTests
{
    private const string Path = "experiments/bad.distill.yaml";

    /// <summary>A small valid experiment: data.train and data.val, a CifarResNet teacher and student, CE + KD.</summary>
    private const string Valid = """
        name: bad-input
        data:
          train: { dataset: SyntheticImages, args: { classes: 4, samples: 64, size: 8, seed: 1 } }
          val: { dataset: SyntheticImages, args: { classes: 4, samples: 32, size: 8, seed: 2, split: val } }
          batch: 16
        teacher: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 } }
        student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4 }
        optimizer: { sgd: { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 } }
        schedule: { epochs: 10, multistep: { milestones: [6, 8], gamma: 0.1 } }
        """;

    private static GeneratorHarness.Result Run(params (string Path, string Text)[] files) =>
        GeneratorHarness.RunDriver(GeneratorHarness.Driver(files.Select(f => (AdditionalText)new InMemoryAdditionalText(f.Path, f.Text)).ToArray()),
            GeneratorHarness.TrainingCompilation("// the experiments are YAML files"));

    private static ImmutableArray<Diagnostic> Diagnose(string yaml) =>
        Run((Path, yaml)).GeneratorDiagnostics.OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id).ToImmutableArray();

    /// <summary>The one diagnostic with this id; its message and 1-based line and column; nothing is generated for the file.</summary>
    private static Diagnostic Find(string yaml, string id, int line, int column, string message)
    {
        var result = Run((Path, yaml));
        var d = Assert.Single(result.GeneratorDiagnostics, x => x.Id == id);
        Assert.Equal(message, d.GetMessage());
        var span = d.Location.GetLineSpan();
        Assert.Equal(Path, span.Path);
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
        AssertInside(d, yaml);
        Assert.Empty(result.Run.GeneratedTrees);
        return d;
    }

    /// <summary>
    /// The one diagnostic with this id, starting where <paramref name="at"/> (which occurs once in the file) starts; its message;
    /// nothing is generated for the file.
    /// </summary>
    private static Diagnostic FindAt(string yaml, string id, string at, string message)
    {
        var index = yaml.IndexOf(at, StringComparison.Ordinal);
        Assert.True(index >= 0 && yaml.IndexOf(at, index + 1, StringComparison.Ordinal) < 0, $"'{at}' must occur once in the file");
        var position = SourceText.From(yaml).Lines.GetLinePosition(index);
        return Find(yaml, id, position.Line + 1, position.Character + 1, message);
    }

    /// <summary>The diagnostic's span lies within the text, and its line and column are the text's (as Roslyn counts lines).</summary>
    private static void AssertInside(Diagnostic d, string text)
    {
        var source = SourceText.From(text);
        Assert.InRange(d.Location.SourceSpan.End, 0, text.Length);
        Assert.Equal(source.Lines.GetLinePositionSpan(d.Location.SourceSpan), d.Location.GetLineSpan().Span);
    }

    /// <summary>No diagnostics, and generated code that compiles without errors or warnings.</summary>
    private static Dictionary<string, string> Clean(params (string Path, string Text)[] files)
    {
        var result = Run(files);
        Assert.True(result.GeneratorDiagnostics.IsEmpty, string.Join("\n", result.GeneratorDiagnostics));
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        return result.Run.GeneratedTrees.ToDictionary(t => System.IO.Path.GetFileName(t.FilePath), t => t.ToString());
    }

    [Fact]
    public void The_valid_experiment_generates_code_that_compiles_cleanly() =>
        Assert.Equal(4, Clean((Path, Valid)).Count);

    // ---- nesting ---------------------------------------------------------------------------------

    [Theory]
    [InlineData(10_000, 0)] // [[[ ... ]]]
    [InlineData(10_000, 1)] // { a: { a: ... } }
    [InlineData(1_600, 2)] // block mappings, one more space per level
    public void DSL041_deep_nesting_is_a_diagnostic_not_a_stack_overflow(int depth, int form)
    {
        var value = form switch
        {
            0 => new string('[', depth) + "1" + new string(']', depth),
            1 => string.Concat(Enumerable.Repeat("{ a: ", depth)) + "1" + new string('}', depth),
            _ => string.Concat(Enumerable.Range(0, depth).Select(i => "\n" + new string(' ', i + 1) + "k:")) + " 1",
        };
        var yaml = Valid.Replace("name: bad-input", "name: bad-input\npaper: " + value);
        // On a thread with a small stack (an IDE's host may give less than a command line): no recursion can exhaust it.
        ImmutableArray<Diagnostic> diagnostics = default;
        var thread = new Thread(() => diagnostics = Diagnose(yaml), 256 * 1024);
        thread.Start();
        thread.Join();
        var d = Assert.Single(diagnostics);
        Assert.Equal("DSL041", d.Id);
        Assert.Equal($"This value is nested 65 levels deep; an experiment file may nest at most {YamlTreeReader.MaxDepth} levels", d.GetMessage());
        // At the opening of the 65th level (the file's mapping is the first).
        var span = d.Location.GetLineSpan().StartLinePosition;
        // Block mappings: line 3 holds the second level (k0, one space in); the 65th level is k63's mapping, 64 spaces in.
        Assert.Equal(form == 2 ? (66, 65) : (2, 8 + (form == 0 ? 63 : 5 * 63)), (span.Line + 1, span.Character + 1));
        AssertInside(d, yaml);
    }

    [Fact]
    public void Nesting_up_to_the_limit_is_read()
    {
        // The file's mapping and 63 lists: 64 levels, read, and reported only as a paper that is not text.
        var yaml = Valid.Replace("name: bad-input", "name: bad-input\npaper: " + new string('[', 63) + new string(']', 63));
        Assert.Equal("DSL004", Assert.Single(Diagnose(yaml)).Id);
    }

    // ---- values the planner met unchecked (FormatException in Planner.Literal) -------------------------

    [Theory]
    [InlineData("momentum: 0.9", "momentum: fast", "fast", "DSL004", "'momentum' expects a number, but the value is the text 'fast'")]
    [InlineData("weight_decay: 5e-4", "weight_decay: .NaN", ".NaN", "DSL044", "'weight_decay' of the sgd optimizer must be a finite number >= 0, but is .NaN")]
    [InlineData("lr: 0.1", "lr: fast", "fast", "DSL004", "'lr' expects a number, but the value is the text 'fast'")]
    [InlineData("lr: 0.1", "lr: -0.1", "-0.1", "DSL044", "'lr' of the sgd optimizer must be a finite number > 0, but is -0.1")]
    [InlineData("momentum: 0.9", "momentum: -1", "-1", "DSL044", "'momentum' of the sgd optimizer must be a finite number >= 0, but is -1")]
    [InlineData("momentum: 0.9", "momentum: 0.9, dampening: 2", "2, weight", "DSL044", "'dampening' of the sgd optimizer must be a finite number in [0, 1], but is 2")]
    [InlineData("momentum: 0.9", "momentum: 0.9, nesterov: yes", "yes", "DSL004", "'nesterov' expects true or false, but the value is the text 'yes'")]
    [InlineData("momentum: 0.9", "momentum: 0.9, dampening: 0.5, nesterov: true", "true", "DSL044",
        "Nesterov momentum in the sgd optimizer must be used with a momentum > 0 and a dampening of 0, but is momentum 0.9, dampening 0.5")]
    [InlineData("momentum: 0.9", "momentun: 0.9", "momentun", "DSL002",
        "Unknown key 'momentun' in the sgd optimizer (did you mean 'momentum'?); expected one of: lr, momentum, dampening, weight_decay, nesterov")]
    [InlineData("sgd: { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 }", "adam: { lr: 0.1, betas: [0.9, 1.5] }", "1.5", "DSL044",
        "'betas' of the adam optimizer must be a finite number in [0, 1), but is 1.5")]
    [InlineData("sgd: { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 }", "adam: { lr: 0.1, betas: [0.9, 0.99, 0.999] }", "[0.9, 0.99", "DSL004",
        "'betas' expects a pair of numbers such as [0.9, 0.999], but the value is a list")]
    [InlineData("sgd: { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 }", "adam: { lr: 0.1, eps: .inf }", ".inf", "DSL044",
        "'eps' of the adam optimizer must be a finite number >= 0, but is .inf")]
    [InlineData("sgd: { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 }", "adam: { lr: 0.1, momentum: 0.9 }", "momentum", "DSL002",
        "Unknown key 'momentum' in the adam optimizer; expected one of: lr, betas, eps, weight_decay, amsgrad")]
    [InlineData("weight_decay: 5e-4 } }", "weight_decay: 5e-4 }, groups: [ { params: [student], lr: .nan } ] }", ".nan", "DSL044",
        "'lr' of a parameter group of the sgd optimizer must be a finite number > 0, but is .nan")]
    [InlineData("weight_decay: 5e-4 } }", "weight_decay: 5e-4 }, groups: [ { params: [studnet], lr: 0.1 } ] }", "studnet", "DSL025",
        "'studnet' names no model, adapter or batch: known names are student, a submodule path such as student.layer3, adapters (did you mean 'student'?)")]
    public void Optimizer_settings_are_bound_before_planning(string from, string to, string at, string id, string message) =>
        FindAt(Valid.Replace(from, to), id, at, message);

    [Theory]
    [InlineData("milestones: [6, 8]", "milestones: [a, 7]", "a, 7]", "DSL004", "'milestones' expects whole numbers of epochs, but the value is the text 'a'")]
    [InlineData("milestones: [6, 8]", "milestones: []", "[]", "DSL004", "'milestones' expects a list of epochs such as [150, 180, 210], but the value is an empty list")]
    [InlineData("milestones: [6, 8]", "milestones: [6, 2147483648]", "2147483648", "DSL044",
        "'milestones' of the multistep schedule must be a whole number in [1, 2147483647], but is 2147483648")]
    [InlineData("milestones: [6, 8]", "milestones: [0, 8]", "0, 8]", "DSL044", "'milestones' of the multistep schedule must be a whole number in [1, 2147483647], but is 0")]
    [InlineData("{ milestones: [6, 8], gamma: 0.1 }", "{}", "multistep", "DSL003",
        "The multistep schedule needs the key 'milestones' (the epochs at which the rate is multiplied by gamma, e.g. [150, 180, 210])")]
    [InlineData("gamma: 0.1", "gamma: -0.1", "-0.1", "DSL044", "'gamma' of the multistep schedule must be a finite number > 0, but is -0.1")]
    [InlineData("gamma: 0.1", "gama: 0.1", "gama", "DSL002", "Unknown key 'gama' in the multistep schedule (did you mean 'gamma'?); expected one of: milestones, gamma")]
    [InlineData("epochs: 10", "epochs: 9223372036854775807", "9223372036854775807", "DSL044", "'epochs' must be a whole number from 1 to 2147483647, but is 9223372036854775807")]
    [InlineData("epochs: 10", "epochs: 99999999999999999999", "99999999999999999999", "DSL044", "'epochs' must be a whole number from 1 to 2147483647, but is 99999999999999999999")]
    [InlineData("gamma: 0.1 } }", "gamma: 0.1 }, warmup: 4294967296 }", "4294967296", "DSL044", "'warmup' must be a whole number from 0 to 2147483647, but is 4294967296")]
    [InlineData("gamma: 0.1 } }", "gamma: 0.1 }, clip_grad_norm: -1 }", "-1", "DSL044", "'clip_grad_norm' must be a finite number > 0 (the largest gradient norm), but is -1")]
    [InlineData("multistep: { milestones: [6, 8], gamma: 0.1 }", "cosine: { eta_min: .inf }", ".inf", "DSL044", "'eta_min' of the cosine schedule must be a finite number >= 0, but is .inf")]
    [InlineData("multistep: { milestones: [6, 8], gamma: 0.1 }", "step: { step_size: 0 }", "0 } }", "DSL044", "'step_size' of the step schedule must be a whole number in [1, 2147483647], but is 0")]
    public void Schedule_settings_are_bound_before_planning(string from, string to, string at, string id, string message) =>
        FindAt(Valid.Replace(from, to), id, at, message);

    [Theory]
    [InlineData("temperature: 4", "temperature: .nan", ".nan", "DSL044", "'temperature' of loss hinton_kd must be a finite number, but is .nan")]
    [InlineData("temperature: 4", "temperature: 1e999", "1e999", "DSL044", "'temperature' of loss hinton_kd must be a finite number, but is 1e999")]
    [InlineData("temperature: 4", "temperature: 4, weight: .inf", ".inf", "DSL044", "The weight of loss term 'kd' must be a finite number >= 0, but is .inf")]
    [InlineData("temperature: 4", "temperature: 4, schedule: { warmup: -.inf }", "{ warmup", "DSL044", "The warm-up of loss term 'kd' must be a finite number of epochs >= 0, but is -.inf")]
    [InlineData("depth: 8, classes: 4, width: 2", "depth: 8, classes: 4, width: 2147483648", "2147483648", "DSL044",
        "'width' of model CifarResNet must be a whole number from -2147483648 to 2147483647 (an int), but is 2147483648")]
    [InlineData("batch: 16", "batch: 4294967296", "4294967296", "DSL044", "'batch' must be a whole number from 1 to 2147483647, but is 4294967296")]
    public void Numbers_outside_their_type_and_non_finite_numbers_are_diagnosed(string from, string to, string at, string id, string message) =>
        FindAt(Valid.Replace(from, to), id, at, message);

    // ---- data.val, bound like data.train -------------------------------------------------------------

    [Theory]
    [InlineData("samples: 32", "sampels: 32", "sampels", "DSL011",
        "data set SyntheticImages has no constructor parameter 'sampels' (did you mean 'samples'?); its parameters are: classes, samples, channels, size, seed, split, label_noise, difficulty, similarity")]
    [InlineData("samples: 32", "samples: -2147483649", "-2147483649", "DSL044",
        "'samples' of data set SyntheticImages must be a whole number from -2147483648 to 2147483647 (an int), but is -2147483649")]
    [InlineData("samples: 32", "samples: many", "many", "DSL012", "'samples' of data set SyntheticImages is the text 'many', but the parameter is of type int")]
    [InlineData("split: val", "split: ~", "~", "DSL012", "'split' of data set SyntheticImages is null, but the parameter is of type string")]
    [InlineData("val: { dataset: SyntheticImages", "val: { dataset: SynthImages", "SynthImages", "DSL027",
        "Unknown data set 'SynthImages' (did you mean 'SyntheticImages'?); available data sets: Cifar10, Cifar100, CocoDetection, CuhkSysuScenes, FaceFolder, FashionMnist, ImageFolder, Mnist, PrwScenes, SyntheticDetection, SyntheticFaces, SyntheticImages, SyntheticPersonSearch, TensorImages, VocDetection")]
    public void Validation_data_arguments_are_bound_like_training_data(string from, string to, string at, string id, string message) =>
        FindAt(ReplaceOnLine(Valid, 4, from, to), id, at, message);

    // ---- ranges the constructors declare ---------------------------------------------------------------

    [Theory]
    [InlineData("classes: 4, samples: 64", "classes: 4, samples: 0", "0, size", "DSL044", "'samples' of data set SyntheticImages must be at least 1, but is 0")]
    [InlineData("samples: 32, size: 8", "samples: 32, size: 4", "4, seed: 2", "DSL044", "'size' of data set SyntheticImages must be at least 8, but is 4")]
    [InlineData("seed: 1 }", "seed: 1, label_noise: 1.0 }", "1.0 }", "DSL044", "'label_noise' of data set SyntheticImages must be in [0, 1), but is 1")]
    [InlineData("seed: 2, split: val", "seed: 2, split: val, difficulty: 5", "5 }", "DSL044", "'difficulty' of data set SyntheticImages must be from 0 to 4, but is 5")]
    [InlineData("depth: 8, classes: 4, width: 2", "depth: 8, classes: 4, width: 0", "0, stem", "DSL044", "'width' of model CifarResNet must be at least 1, but is 0")]
    [InlineData("depth: 8, classes: 4, width: 4", "depth: 2, classes: 4, width: 4", "2, classes", "DSL044", "'depth' of model CifarResNet must be at least 8, but is 2")]
    public void Values_outside_a_constructors_declared_range_are_diagnosed_at_the_value(string from, string to, string at, string id, string message) =>
        FindAt(Valid.Replace(from, to), id, at, message);

    private static string ReplaceOnLine(string text, int line, string from, string to)
    {
        var lines = text.Split('\n');
        lines[line - 1] = lines[line - 1].Replace(from, to);
        return string.Join('\n', lines);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void Code_in_a_value_is_a_type_error_never_code(int line)
    {
        var yaml = ReplaceOnLine(Valid, line, line == 3 ? "seed: 1" : "seed: 2", "seed: System.IO.File.ReadAllText(\"/etc/hostname\").Length");
        var result = Run((Path, yaml));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("DSL012", d.Id);
        Assert.Equal("'seed' of data set SyntheticImages is the text 'System.IO.File.ReadAllText(\"/etc/hostname\").Length', but the parameter is of type int", d.GetMessage());
        Assert.Equal(line, d.Location.GetLineSpan().StartLinePosition.Line + 1);
        Assert.Empty(result.Run.GeneratedTrees);
    }

    [Fact]
    public void An_empty_losses_mapping_is_diagnosed() =>
        Find(Valid.Replace("""
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
              kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4 }
            """, "").Replace("losses:", "losses: {}"), "DSL004", 8, 9,
            "'losses' expects at least one loss term, e.g. { ce: { loss: cross_entropy, input: student.logits } }, but the value is an empty mapping");

    [Theory]
    [InlineData("metrics: [top1, accuracy]", "accuracy", "'metrics' expects top-k accuracies such as top1, top5, but the value is 'accuracy'", "DSL004")]
    [InlineData("metrics: [top0]", "top0", "'metrics' expects top-k accuracies such as top1, top5, but the value is 'top0'", "DSL004")]
    [InlineData("every: 0", "0 }", "'every' expects a positive number of epochs, but the value is the number 0", "DSL004")]
    public void Evaluation_settings_are_bound(string setting, string at, string message, string id) =>
        FindAt(Valid + "\neval: { " + setting + " }\n", id, at, message);

    [Fact]
    public void A_teacher_from_an_invalid_experiment_name_is_diagnosed() =>
        FindAt(Valid.Replace("width: 4, stem: 4 } }", "width: 4, stem: 4 }, from: \"a\\\"b\" }"), "DSL006", "\"a",
            "'a\"b' is not a valid experiment name: use letters, digits, '-' and '_', starting with a letter");

    // ---- strings C# must escape ----------------------------------------------------------------------

    [Fact]
    public void Every_string_literal_is_escaped_completely()
    {
        var text = "q\" b\\ nl\n cr\r nul\0 ls\u2028 ps\u2029 nel\u0085 bidi\u202E zw\u200B bom\uFEFF lone\uD800 pair\uD83D\uDE00 nonchar\uFFFF pua\uE000 é→";
        var literal = CSharpLiteral.Literal(text);
        Assert.Equal("\"q\\\" b\\\\ nl\\n cr\\r nul\\u0000 ls\\u2028 ps\\u2029 nel\\u0085 bidi\\u202e zw\\u200b bom\\ufeff lone\\ud800 pair\uD83D\uDE00 nonchar\\uffff pua\\ue000 é→\"", literal);
        // The literal is one C# token on one line, and denotes exactly the text.
        var expression = SyntaxFactory.ParseExpression(literal);
        Assert.False(expression.ContainsDiagnostics);
        Assert.Equal(text, ((LiteralExpressionSyntax)expression).Token.ValueText);
        Assert.Single(SourceText.From(literal).Lines);
    }

    [Fact]
    public void Strings_with_line_separators_and_control_characters_generate_clean_code()
    {
        var yaml = Valid.Replace("name: bad-input", "name: bad-input\npaper: \"a\\Lb\\Pc\\Nd\\x01e \\\" \\\\ \\u202E */ </summary>\"")
            .Replace("split: val", "split: \"v\\La\\Pl\\tq\\\"\"");
        var generated = Clean((Path, yaml));
        var description = generated["BadInputExperiment.g.cs"];
        Assert.Contains("public const string Paper = \"a\\u2028b\\u2029c\\u0085d\\u0001e \\\" \\\\ \\u202e */ </summary>\";", description);
        Assert.Contains("split: \"v\\u2028a\\u2029l\\tq\\\"\"", generated["BadInputExperiment.Members.g.cs"]);
        // No generated file has a line break the YAML did not ask for, or a character that hides text.
        foreach (var text in generated.Values)
            Assert.DoesNotContain(text, c => c is '\u2028' or '\u2029' or '\u0085' or '\u202E' or '\r' || (char.IsControl(c) && c != '\n'));
    }

    // ---- names that collide in generated code ---------------------------------------------------------

    [Theory]
    [InlineData("ab-c", "a-bc", "AbCExperiment", "ABcExperiment")]
    [InlineData("hinton-resnet56-resnet20", "hinton_resnet56_resnet20", "HintonResnet56Resnet20Experiment", "HintonResnet56Resnet20Experiment")]
    [InlineData("teacher-resnet56", "TEACHER-RESNET56", "TeacherResnet56Experiment", "TEACHERRESNET56Experiment")]
    public void DSL043_experiments_whose_class_or_file_names_collide_take_only_the_later_one_down(string first, string second, string firstClass, string secondClass)
    {
        var result = Run(("experiments/a.distill.yaml", Valid.Replace("name: bad-input", "name: " + first)),
            ("experiments/b.distill.yaml", Valid.Replace("name: bad-input", "name: " + second)),
            ("experiments/c.distill.yaml", Valid.Replace("name: bad-input", "name: unrelated")));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("DSL043", d.Id);
        Assert.Equal($"Experiment '{second}' generates the class {secondClass}, whose files would have the names of those of experiment '{first}' ({firstClass}, experiments/a.distill.yaml(1,7)); rename one of them",
            d.GetMessage());
        Assert.Equal(("experiments/b.distill.yaml", 0, 6), (d.Location.GetLineSpan().Path, d.Location.GetLineSpan().StartLinePosition.Line, d.Location.GetLineSpan().StartLinePosition.Character));
        // The first and the unrelated experiment keep their code (4 files each), and it compiles.
        var files = result.Run.GeneratedTrees.Select(t => System.IO.Path.GetFileName(t.FilePath)).ToList();
        Assert.Equal(8, files.Count);
        Assert.Contains(firstClass + ".Train.g.cs", files);
        Assert.Contains("UnrelatedExperiment.Train.g.cs", files);
        Assert.Empty(result.Output.GetDiagnostics().Where(x => x.Severity >= DiagnosticSeverity.Warning));
    }

    [Theory]
    [InlineData("teachers:\n  teacher_a: {0}\n  teacher-a: {0}", 8, 3, "Teacher 'teacher-a' becomes the member TeacherA in the generated code, which teacher 'teacher_a' becomes too: rename it")]
    [InlineData("teachers:\n  evaluate: {0}", 7, 3, "Teacher 'evaluate' becomes the member Evaluate in the generated code, which the training loop already has: rename it")]
    [InlineData("teachers:\n  equals: {0}", 7, 3, "Teacher 'equals' becomes the member Equals in the generated code, which object already has: rename it")]
    [InlineData("teachers:\n  depends_on: {0}", 7, 3, "Teacher 'depends_on' becomes the member DependsOn in the generated code, which the experiment's description already has: rename it")]
    [InlineData("teachers:\n  train_data: {0}", 7, 3, "Teacher 'train_data' becomes the member TrainData in the generated code, which the data sets already has: rename it")]
    [InlineData("teachers:\n  settings: {0}", 7, 3, "Teacher 'settings' becomes the member Settings in the generated code, which the fused loss already has: rename it")]
    [InlineData("teachers:\n  bad_input_experiment: {0}", 7, 3, "Teacher 'bad_input_experiment' becomes the member BadInputExperiment in the generated code, which is the name of the class itself: rename it")]
    public void DSL042_teachers_whose_members_collide(string teachers, int line, int column, string message)
    {
        var teacher = "{ model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 } }";
        var yaml = Valid.Replace("teacher: " + teacher, string.Format(teachers, teacher)).Replace("teacher.logits", "teacher_a.logits");
        if (!teachers.Contains("teacher_a", StringComparison.Ordinal)) yaml = yaml.Replace("teacher_a.logits", teachers.Split('\n')[1].Trim().Split(':')[0] + ".logits");
        Find(yaml, "DSL042", line, column, message);
    }

    [Theory]
    [InlineData("Ce", "Loss term 'Ce' becomes the property LossBreakdown.Ce in the generated code, which loss term 'ce' becomes too: rename it")]
    [InlineData("total", "Loss term 'total' becomes the property LossBreakdown.Total in the generated code, which LossBreakdown already has: rename it")]
    [InlineData("dispose", "Loss term 'dispose' becomes the property LossBreakdown.Dispose in the generated code, which LossBreakdown already has: rename it")]
    [InlineData("get_hash_code", "Loss term 'get_hash_code' becomes the property LossBreakdown.GetHashCode in the generated code, which object already has: rename it")]
    [InlineData("loss_breakdown", "Loss term 'loss_breakdown' becomes the property LossBreakdown.LossBreakdown in the generated code, which is the name of the class itself: rename it")]
    [InlineData("lr", "Loss term 'lr' becomes the metric 'lr' in the generated code, which the training loop logs already: rename it")]
    public void DSL042_terms_whose_members_collide(string name, string message) =>
        Find(Valid.Replace("  kd: {", $"  {name}: {{"), "DSL042", 10, 3, message);

    [Fact]
    public void DSL042_an_adapter_whose_member_collides_with_a_teacher() =>
        Find(Valid.Replace("teacher: { model", "teachers:\n  hint_adapter: { model").Replace("teacher.logits", "hint_adapter.logits")
                + "\nadapters:\n  hint: { kind: conv1x1, from: student.stage3, to: hint_adapter.stage3 }\n", "DSL042", 15, 3,
            "Adapter 'hint' becomes the member HintAdapter in the generated code, which teacher 'hint_adapter' becomes too: rename it");

    [Fact]
    public void An_adapter_named_like_a_model_is_a_duplicate_name() =>
        FindAt(Valid + "\nadapters:\n  teacher: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }\n", "DSL005", "teacher: { kind",
            "Duplicate name 'teacher': names must be unique");

    [Theory]
    [InlineData("DependsOn")] // its constructor parameter was its property: 'DependsOn = DependsOn;'
    [InlineData("torch")] // a local 'torch' would hide torch.no_grad()
    [InlineData("scope")]
    [InlineData("student_logits")]
    [InlineData("image")]
    [InlineData("epoch")]
    [InlineData("Student")]
    public void Term_names_that_would_collide_with_locals_generate_clean_code(string name)
    {
        var generated = Clean((Path, Valid.Replace("  kd: {", $"  {name}: {{")));
        Assert.Contains($"public global::Distill.Torch.Tensor {CSharpNames.Pascal(name)} {{ get; }}", generated["BadInputExperiment.Loss.g.cs"]);
    }

    [Fact]
    public void The_generated_member_lists_are_the_members_the_emitters_generate()
    {
        // An experiment with every feature: teachers, an adapter, validation data, every emitter's members.
        var yaml = Valid + "\nadapters:\n  hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }\n";
        yaml = yaml.Replace("  kd: {", "  fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3 }\n  kd: {");
        var result = Run((Path, yaml));
        Assert.Empty(result.GeneratorDiagnostics);
        var type = result.Output.GetTypeByMetadataName("Distill.Experiments.Generated.BadInputExperiment")!;
        var members = type.GetMembers().Where(m => !m.IsImplicitlyDeclared && m is not IMethodSymbol { MethodKind: MethodKind.PropertyGet or MethodKind.Constructor or MethodKind.StaticConstructor })
            .Select(m => m.Name).ToHashSet();
        var expected = GeneratedMembers.Description.Concat(GeneratedMembers.Loss).Concat(GeneratedMembers.Train).Concat(GeneratedMembers.YamlData)
            .Concat(new[] { "Teacher", "Student", "HintAdapter" }).ToHashSet();
        Assert.Equal(expected.Order(), members.Order());
        // Every generated member is marked as tool-written (for analyzers and coverage), as dotnet/runtime's generators mark theirs.
        var unmarked = type.GetMembers().Where(m => !m.IsImplicitlyDeclared && m is not IMethodSymbol { MethodKind: MethodKind.PropertyGet or MethodKind.Constructor or MethodKind.StaticConstructor })
            .Where(m => !m.GetAttributes().Any(a => a.AttributeClass?.Name == "GeneratedCodeAttribute")).Select(m => m.Name).ToList();
        Assert.True(unmarked.Count == 0, "without [GeneratedCode]: " + string.Join(", ", unmarked));
        // The explicit IStepLoss.Terms cannot clash with a term's property.
        var breakdown = type.GetTypeMembers("LossBreakdown").Single().GetMembers()
            .Where(m => !m.IsImplicitlyDeclared && m is not IMethodSymbol { MethodKind: MethodKind.PropertyGet or MethodKind.Constructor } and not IPropertySymbol { ExplicitInterfaceImplementations.Length: > 0 })
            .Select(m => m.Name).ToHashSet();
        Assert.Equal(GeneratedMembers.Breakdown.Concat(new[] { "Ce", "Fit", "Kd" }).Order(), breakdown.Order());
        Assert.Contains("GetHashCode", GeneratedMembers.ObjectMembers);
        Assert.Contains("MemberwiseClone", GeneratedMembers.ObjectMembers);

        // The generated files bind no name through a using, and name every type and namespace outside the class with global::
        // (only the class's own nested types go unqualified), so a user's type named Tensor or Optimizer can capture none.
        foreach (var tree in result.Output.SyntaxTrees.Where(t => t.FilePath.Contains("BadInputExperiment", StringComparison.Ordinal)))
        {
            Assert.Empty(tree.GetRoot().DescendantNodes().OfType<UsingDirectiveSyntax>());
            var model = result.Output.GetSemanticModel(tree);
            foreach (var id in tree.GetRoot().DescendantNodes().OfType<IdentifierNameSyntax>())
            {
                if (id.Parent is MemberAccessExpressionSyntax access && access.Name == id) continue;
                if (id.Parent is QualifiedNameSyntax qualified && qualified.Right == id) continue;
                if (id.IsVar || id.Parent is AliasQualifiedNameSyntax || id.Ancestors().OfType<BaseNamespaceDeclarationSyntax>().Any(n => n.Name.Span.Contains(id.Span))) continue;
                if (model.GetSymbolInfo(id).Symbol is INamespaceOrTypeSymbol symbol && !symbol.Equals(type, SymbolEqualityComparer.Default)
                    && !SymbolEqualityComparer.Default.Equals(symbol.ContainingType, type) && symbol is not ITypeParameterSymbol)
                    Assert.Contains(id.Identifier.ValueText, GeneratedMembers.UnqualifiedNames);
            }
        }
    }

    // ---- nothing emitted for an experiment with errors -------------------------------------------------

    [Fact]
    public void An_experiment_in_a_cycle_of_teachers_generates_nothing()
    {
        var result = Run((Path, Valid.Replace("width: 4, stem: 4 } }", "width: 4, stem: 4 }, from: bad-input }")));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("DSL031", d.Id);
        Assert.Equal("Experiment 'bad-input' depends on itself through teachers trained by: bad-input", d.GetMessage());
        Assert.Empty(result.Run.GeneratedTrees);
    }

    // ---- locations ---------------------------------------------------------------------------------

    [Theory]
    [InlineData("name: x\nstudent: { model: A")] // the file ends inside a flow mapping, without a final line break
    [InlineData("name: x\nstudent: { model: A\n")]
    [InlineData("name: x\r\nstudent: { model: A\r\n")]
    [InlineData("name: x\rstudent: { model: A\r")]
    [InlineData("name: x\nstudent: [")]
    [InlineData("name: x\nstudent: 'unterminated")]
    [InlineData("name: x\n\nstudent:")]
    [InlineData("a: b\u2028c: d\n")]
    [InlineData("name: x\u2029student: y\u0085losses: z")]
    public void Diagnostics_at_the_end_of_the_file_are_located_inside_it(string yaml)
    {
        var diagnostics = Diagnose(yaml);
        Assert.NotEmpty(diagnostics);
        foreach (var d in diagnostics)
        {
            AssertInside(d, yaml);
            Assert.True(d.Location.GetLineSpan().StartLinePosition.Line < SourceText.From(yaml).Lines.Count);
        }
    }

    [Fact]
    public void Every_diagnostic_of_a_CRLF_file_is_where_it_is_in_the_LF_file()
    {
        var lf = Valid.Replace("kd: {", "kd: { temprature: 4,").Replace("lr: 0.1", "lr: fast");
        var crlf = lf.Replace("\n", "\r\n");
        var a = Diagnose(lf);
        var b = Diagnose(crlf);
        Assert.Equal(2, a.Length);
        Assert.Equal(a.Select(d => (d.Id, d.GetMessage(), d.Location.GetLineSpan().Span)), b.Select(d => (d.Id, d.GetMessage(), d.Location.GetLineSpan().Span)));
        foreach (var d in b) AssertInside(d, crlf);
    }

    // ---- BOM, CRLF, binary bytes -------------------------------------------------------------------

    [Fact]
    public void A_byte_order_mark_and_CRLF_line_ends_change_nothing()
    {
        var plain = Clean((Path, Valid));
        var bom = Clean((Path, "\uFEFF" + Valid.Replace("\n", "\r\n")));
        Assert.Equal(plain, bom);
    }

    [Theory]
    [InlineData("0000")]
    [InlineData("0001 00FF")]
    [InlineData("007F")]
    [InlineData("D800")] // a lone surrogate (built here: attribute arguments cannot hold one)
    [InlineData("FFFF")]
    public void Binary_bytes_are_a_located_syntax_error(string units)
    {
        var codes = units.Split(' ');
        var bytes = new string(codes.Select(c => (char)Convert.ToInt32(c, 16)).ToArray());
        var yaml = Valid.Replace("seed: 1", "seed: 1" + bytes);
        // Where the first one is: line 3, just after "seed: 1".
        FindAt(yaml, "DSL001", bytes, $"YAML syntax error: the character U+{codes[0]} is not allowed in a YAML file (is it binary content?)");
    }

    // ---- linear time -------------------------------------------------------------------------------

    [Fact]
    public void A_one_megabyte_unknown_name_gets_no_suggestion_and_a_short_message()
    {
        var name = "Cifar" + new string('x', 1 << 20);
        FindAt(Valid.Replace("student: { model: CifarResNet", "student: { model: " + name), "DSL010", name,
            $"Unknown model type 'Cifar{new string('x', 55)}… ({name.Length} characters)'; available models: CifarResNet, IResNet, MobileFaceNet, MobileNetV2, ResNet, WideResNet");
        // Suggestions only look at names as long as the DSL's: the work per candidate is bounded, whatever the text's length.
        Assert.Null(NameSuggestions.Closest(name, new[] { name + "z", "CifarResNet" }));
        Assert.Equal("schedule", NameSuggestions.Closest("schedul", new[] { name, "schedule" }));
    }

    [Fact]
    public void Names_longer_than_a_hundred_characters_are_invalid() =>
        Find(Valid.Replace("name: bad-input", "name: " + new string('a', 101)), "DSL006", 1, 7,
            $"'{new string('a', 60)}… (101 characters)' is not a valid experiment name: use letters, digits, '-' and '_', starting with a letter, at most 100 characters long");
}
