using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Distill.Generators.Binding;
using Distill.Generators.Model;

namespace Distill.Generators.Planning;

/// <summary>
/// Lays out the fused loss computation of a bound, error-free experiment: which taps each model must
/// produce (one forward per model), the adapters, and each term's call with its inputs bound to locals.
/// Returns null when the experiment cannot run as generated code (a model without the run-time tap
/// convention, an adapter whose channels are not known at compile time, no loss term). Values reach the
/// plan only as <see cref="CSharpLiteral"/>s (the binder has checked each one); locals of <c>ComputeLoss</c>
/// get names that cannot collide (<see cref="Locals"/>), whatever the experiment's names are.
/// </summary>
internal static class Planner
{
    public static LossPlan? Plan(BoundExperiment bound)
    {
        var spec = bound.Spec;
        if (spec.Losses.Count == 0) return null;
        var dataset = bound.TrainData;
        // Teachers first, then the student: the order of the forward passes.
        var models = bound.Models.OrderBy(m => m.Spec.Role == ModelRole.Student ? 1 : 0).ToList();
        if (models.Any(m => !m.Info.RunsTaps)) return null;

        // The names ComputeLoss uses besides its locals: its parameters, the class's members it reads, and what it names unqualified.
        var fields = dataset?.Fields.Select(f => f.Name).ToEquatableArray() ?? new[] { "image", "label" }.ToEquatableArray();
        if (fields.Count == 0) return null;
        var locals = new Locals(new[] { "scope", "total", "epoch", "epochs", "LossBreakdown", "Settings", "var", "dynamic", "nameof", "global" }
            .Concat(GeneratedMembers.UnqualifiedNames).Concat(new[] { "Tensor" })
            .Concat(models.Select(m => m.Spec.Member)).Concat(spec.Adapters.Select(a => CSharpNames.Pascal(a.Name) + "Adapter")));
        var listFields = new HashSet<string>(dataset?.Fields.Where(f => f.IsList).Select(f => f.Name) ?? Enumerable.Empty<string>(), StringComparer.Ordinal);
        var batchParameters = fields.Select(f => (Field: f, Parameter: locals.Take(f))).ToList();
        var tapLocals = new Dictionary<string, string>(StringComparer.Ordinal);

        // Every reference the terms and adapters read, resolved to the local that will hold it.
        var used = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        var adapterLocals = new Dictionary<string, string>(StringComparer.Ordinal);
        string Local(string model, string tap)
        {
            var key = model + "." + tap;
            if (!tapLocals.TryGetValue(key, out var local)) tapLocals[key] = local = locals.Take(model + "_" + tap);
            return local;
        }
        // model -> rois reference -> the per-RoI taps read on those RoIs
        var onRois = new Dictionary<string, SortedDictionary<string, SortedSet<string>>>(StringComparer.Ordinal);
        var onRoisLocals = new Dictionary<string, string>(StringComparer.Ordinal);
        string? Reference(string text)
        {
            var dot = text.IndexOf('.');
            if (dot < 0) return adapterLocals.TryGetValue(text, out var adapterLocal) ? adapterLocal : null;
            var model = text.Substring(0, dot);
            var tap = text.Substring(dot + 1);
            if (model == "batch") return batchParameters.FirstOrDefault(b => b.Field == tap).Parameter;
            var at = tap.IndexOf('@');
            if (at >= 0)
            {
                // a per-RoI tap on another tap's RoIs: the RoIs are read from their model's forward like any tap
                var rois = tap.Substring(at + 1);
                if (Reference(rois) is null) return null;
                if (!onRois.TryGetValue(model, out var byRois)) onRois[model] = byRois = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
                if (!byRois.TryGetValue(rois, out var roiTaps)) byRois[rois] = roiTaps = new SortedSet<string>(StringComparer.Ordinal);
                roiTaps.Add(tap.Substring(0, at));
                if (!onRoisLocals.TryGetValue(text, out var onLocal)) onRoisLocals[text] = onLocal = locals.Take($"{model}_{tap.Substring(0, at)}_on_{rois}");
                return onLocal;
            }
            if (!used.TryGetValue(model, out var taps)) used[model] = taps = new SortedSet<string>(StringComparer.Ordinal);
            taps.Add(tap);
            return Local(model, tap);
        }

        bool IsListField(string text) => text.StartsWith("batch.", StringComparison.Ordinal) && listFields.Contains(text.Substring("batch.".Length));

        var adapters = new List<PlannedAdapter>();
        foreach (var resolved in bound.Adapters)
        {
            var a = resolved.Spec;
            if (resolved.InChannels is not { } inCh || resolved.OutChannels is not { } outCh) return null;
            var source = Reference(a.From.ToString());
            if (source is null) return null;
            adapterLocals[a.Name] = locals.Take(a.Name);
            adapters.Add(new PlannedAdapter(a.Name, CSharpNames.Pascal(a.Name) + "Adapter", a.Kind, inCh, outCh, source, adapterLocals[a.Name], a.Norm, a.Act));
            // The target tap is not read at run time: only its shape (the output channels) mattered.
        }

        // The loss's weights and scalar hyper-parameters live in LossSettings, so a run may override them (--set); the table
        // of keys and rules is planned with the loop (TrainPlanner.Settings).
        var settings = new LossSettingsBuilder();
        var terms = new List<PlannedTerm>();
        // Prototype tables by the taps they are built from: terms that read the same taps share one.
        var banks = new List<(string Key, PlannedPrototypeBank Bank)>();
        PlannedPrototypeBank? Bank(LossTermSpec term, (string Student, string Teacher) sides)
        {
            EquatableArray<PlannedBankTap>? Taps(string input)
            {
                var given = term.Arguments.FirstOrDefault(a => a.Name == input);
                if (given is null) return null;
                var taps = new List<PlannedBankTap>();
                foreach (var v in given.Value.Kind == ValueKind.List ? given.Value.Items.ToArray() : new[] { given.Value })
                {
                    var dot = v.Text.IndexOf('.');
                    var model = dot < 0 ? null : models.FirstOrDefault(m => m.Spec.Name == v.Text.Substring(0, dot));
                    if (model is null) return null;
                    taps.Add(new PlannedBankTap(model.Spec.Member, model.Info.TypeName, CSharpNames.Pascal(v.Text.Substring(dot + 1)), v.Text));
                }
                return taps.ToEquatableArray();
            }
            if (Taps(sides.Student) is not { } student || Taps(sides.Teacher) is not { } teacher) return null;
            var key = string.Join(",", student.Select(x => x.Text)) + "|" + string.Join(",", teacher.Select(x => x.Text));
            var index = banks.FindIndex(b => b.Key == key);
            if (index >= 0)
            {
                var shared = banks[index].Bank with { Terms = banks[index].Bank.Terms.Append(term.Name).ToEquatableArray() };
                banks[index] = (key, shared);
                return shared;
            }
            var taken = new HashSet<string>(models.Select(m => m.Spec.Member).Concat(spec.Adapters.Select(a => CSharpNames.Pascal(a.Name) + "Adapter")).Concat(banks.Select(b => b.Bank.Property)), StringComparer.Ordinal);
            var property = CSharpNames.Pascal(term.Name) + "Prototypes";
            for (var n = 2; taken.Contains(property); n++) property = CSharpNames.Pascal(term.Name) + "Prototypes" + n.ToString(CultureInfo.InvariantCulture);
            var bank = new PlannedPrototypeBank(property, "prototypes_" + term.Name, student, teacher, new[] { term.Name }.ToEquatableArray());
            banks.Add((key, bank));
            return bank;
        }
        // Teacher look-up tables by the tap and field they are built from: terms that read the same share one.
        var identityTables = new List<PlannedIdentityTable>();
        PlannedIdentityTable? IdentityTable(LossTermSpec term, string input, string field)
        {
            var given = term.Arguments.FirstOrDefault(a => a.Name == input);
            var text = given?.Value.Text ?? "";
            var dot = text.IndexOf('.');
            var model = dot < 0 ? null : models.FirstOrDefault(m => m.Spec.Name == text.Substring(0, dot));
            var tap = model?.Info.Taps.FirstOrDefault(x => x.Name == text.Substring(dot + 1));
            if (model is null || tap is null) return null;
            var index = identityTables.FindIndex(x => x.Tap.Text == text && x.Field == field);
            if (index >= 0)
            {
                identityTables[index] = identityTables[index] with { Terms = identityTables[index].Terms.Append(term.Name).ToEquatableArray() };
                return identityTables[index];
            }
            var taken = new HashSet<string>(models.Select(m => m.Spec.Member).Concat(spec.Adapters.Select(a => CSharpNames.Pascal(a.Name) + "Adapter"))
                .Concat(banks.Select(b => b.Bank.Property)).Concat(identityTables.Select(x => x.Property)), StringComparer.Ordinal);
            var property = CSharpNames.Pascal(term.Name) + CSharpNames.Pascal(input);
            for (var n = 2; taken.Contains(property); n++) property = CSharpNames.Pascal(term.Name) + CSharpNames.Pascal(input) + n.ToString(CultureInfo.InvariantCulture);
            var table = new PlannedIdentityTable(property, "teacher_table_" + term.Name, new PlannedBankTap(model.Spec.Member, model.Info.TypeName, CSharpNames.Pascal(tap.Name), text),
                field, tap.NeededFields.ToEquatableArray(), new[] { term.Name }.ToEquatableArray());
            identityTables.Add(table);
            return table;
        }
        var derived = new List<(PlannedDerived Derived, string Key, EquatableArray<string> SettingKeys)>();
        foreach (var (t, loss) in bound.Terms.Select(x => (x.Spec, x.Loss)))
        {
            var args = new List<PlannedArgument>();
            var reads = new List<string>();
            foreach (var name in loss.ParameterOrder)
            {
                var given = t.Arguments.FirstOrDefault(a => a.Name == name);
                var input = loss.Inputs.FirstOrDefault(i => i.Name == name);
                if (input?.PrototypeSources is { } sides)
                {
                    // A member of the experiment the loop rebuilds before every epoch, not a local of this batch.
                    if (Bank(t, sides) is not { } bank) return null;
                    args.Add(new PlannedArgument(name, ArgumentKind.Literal, new[] { bank.Property }.ToEquatableArray()));
                    continue;
                }
                if (input?.IdentityTable is { } identityField)
                {
                    // Built once before training from a teacher's per-box tap: a member of the experiment, not a tap of this batch.
                    if (IdentityTable(t, name, identityField) is not { } table) return null;
                    args.Add(new PlannedArgument(name, ArgumentKind.Literal, new[] { table.Property + ".Table" }.ToEquatableArray()));
                    continue;
                }
                if (input is not null)
                {
                    PlannedArgument? argument;
                    if (given is null)
                        argument = input.BatchField is { } field && batchParameters.FirstOrDefault(b => b.Field == field).Parameter is { } parameter ? LocalArgument(name, parameter) : null;
                    else if (input.IsList && given.Value.Kind != ValueKind.List && IsListField(given.Value.Text))
                        // a batch field that is already one tensor per sample (a detection batch's boxes) goes in as it is
                        argument = Reference(given.Value.Text) is { } list ? LocalArgument(name, list) : null;
                    else if (input.IsList)
                    {
                        var items = (given.Value.Kind == ValueKind.List ? given.Value.Items.ToArray() : new[] { given.Value }).Select(v => Reference(v.Text)).ToList();
                        if (items.Any(i => i is null)) return null;
                        argument = new PlannedArgument(name, ArgumentKind.Locals, items.Select(i => i!).ToEquatableArray());
                    }
                    else argument = Reference(given.Value.Text) is { } local ? LocalArgument(name, local) : null;
                    if (argument is null) return null;
                    reads.AddRange(argument.Values);
                    args.Add(argument);
                    continue;
                }
                var hyper = loss.HyperParameters.FirstOrDefault(h => h.Name == name);
                if (hyper is null) continue;
                string? literal = given is not null ? CSharpLiteral.Of(hyper.Type, given.Value) : hyper.DefaultText;
                if (given is not null && literal is null) return null;
                if (literal is null) continue;
                if (LossSettingsBuilder.IsScalar(hyper.Type))
                    args.Add(new PlannedArgument(name, ArgumentKind.Setting, new[] { settings.AddHyperParameter(t.Name, CSharpNames.Pascal(t.Name) + CSharpNames.Pascal(name), hyper, literal) }.ToEquatableArray()));
                else if (given is not null)
                    args.Add(new PlannedArgument(name, ArgumentKind.Literal, new[] { literal }.ToEquatableArray()));
            }
            var call = new PlannedCall(loss.ContainingType, loss.Method, args.ToEquatableArray());
            var needs = new List<string>();
            if (loss.Shared is { } shared && SharedCall(loss, shared, t, args, derived, needs, locals, settings) is { } sharedCall)
            {
                call = sharedCall;
                reads.Clear();
                reads.AddRange(needs);
                // what the shared form takes besides the quantities (labels, say)
                foreach (var p in shared.Parameters.Where(p => p.Quantity is null && loss.Inputs.Any(i => i.Name == p.Name)))
                    if (args.FirstOrDefault(a => a.Name == p.Name) is { Kind: ArgumentKind.Local } a) reads.Add(a.Values[0]);
            }
            var formula = $"{loss.Name}({string.Join(", ", t.Arguments.Select(a => $"{a.Name}: {Show(a.Value)}"))})";
            var weight = settings.AddWeight(t.Name, CSharpNames.Pascal(t.Name) + "Weight", t.Weight);
            terms.Add(new PlannedTerm(t.Name, CSharpNames.Pascal(t.Name), loss.Name, call, formula, t.Weight, weight, t.Schedule?.Kind ?? WeightScheduleKind.Constant, t.Schedule?.WarmupEpochs ?? 0,
                reads.Distinct().ToEquatableArray(), needs.ToEquatableArray(), locals.Take(t.Name)));
        }

        var planned = new List<PlannedModel>();
        foreach (var m in models)
        {
            var taps = used.TryGetValue(m.Spec.Name, out var set) ? set : new SortedSet<string>();
            // Tap order follows the model's declaration (the order its forward produces them).
            var read = m.Info.Taps.Where(tap => taps.Contains(tap.Name)).ToList();
            var ordered = read.Select(tap => new PlannedTap(tap.Name, CSharpNames.Pascal(tap.Name), Local(m.Spec.Name, tap.Name))).ToEquatableArray();
            var forwardNeeds = new List<string>();
            foreach (var needed in read.SelectMany(tap => tap.NeededFields).Distinct())
            {
                if (batchParameters.FirstOrDefault(b => b.Field == needed).Parameter is not { } parameter) return null;
                forwardNeeds.Add(parameter);
            }
            var arguments = new List<string>();
            foreach (var a in m.Spec.Arguments)
            {
                if (m.Info.Constructor.FirstOrDefault(p => p.Name == a.Name) is not { } parameter || CSharpLiteral.Of(parameter.Type, a.Value) is not { } literal) return null;
                arguments.Add($"{a.Name}: {literal}");
            }
            var heads = new List<PlannedRoiHead>();
            if (onRois.TryGetValue(m.Spec.Name, out var byRois))
            {
                if (!m.Info.RunsRoiHead) return null;
                foreach (var kv in byRois)
                {
                    var headTaps = m.Info.Taps.Where(tap => kv.Value.Contains(tap.Name))
                        .Select(tap => new PlannedTap(tap.Name, CSharpNames.Pascal(tap.Name), onRoisLocals[$"{m.Spec.Name}.{tap.Name}@{kv.Key}"])).ToEquatableArray();
                    var dot = kv.Key.IndexOf('.');
                    heads.Add(new PlannedRoiHead(kv.Key, Local(kv.Key.Substring(0, dot), kv.Key.Substring(dot + 1)), headTaps, locals.Take($"{m.Spec.Name}_on_{kv.Key}")));
                }
            }
            planned.Add(new PlannedModel(m.Spec.Name, m.Spec.Member, m.Info.TypeName, m.Spec.Role == ModelRole.Teacher, string.Join(", ", arguments),
                ordered, forwardNeeds.ToEquatableArray(), ordered.Count > 0 || heads.Count > 0 ? locals.Take(m.Spec.Name + "_out") : "", heads.ToEquatableArray()));
        }

        var hasDecay = spec.Losses.Any(l => l.Schedule?.Kind is WeightScheduleKind.LinearDecay or WeightScheduleKind.WarmupThenDecay);
        var training = bound.CanTrain ? TrainPlanner.Plan(bound, adapters, settings.Table()) : null;
        return new LossPlan(spec.ClassName, spec.Namespace, spec.FrontEnd == FrontEnd.Yaml, planned.ToEquatableArray(), adapters.ToEquatableArray(), terms.ToEquatableArray(), fields,
            hasDecay, training, derived.Select(d => d.Derived).ToEquatableArray(), batchParameters.Select(b => b.Parameter).ToEquatableArray(), settings.Settings,
            batchParameters.Where(b => listFields.Contains(b.Field)).Select(b => b.Parameter).ToEquatableArray(),
            banks.Select(b => b.Bank).ToEquatableArray(), identityTables.ToEquatableArray());
    }

    /// <summary>
    /// The call of a term's shared form, with each quantity (say <c>log_softmax_t(student_logits, T)</c>) taken from
    /// <paramref name="derived"/> or added to it, keyed by the tensor, the quantity and its values (a settings property's
    /// declared value, or a fixed literal), so equal ones are computed once. Terms that share a quantity through settings tie
    /// those settings: a run overrides them together (<see cref="LossSettingsBuilder.Tie"/>). The locals the call reads go to
    /// <paramref name="needs"/>. Null when an input is a list or a hyper-parameter has no value.
    /// </summary>
    private static PlannedCall? SharedCall(LossInfo loss, SharedFormInfo shared, LossTermSpec term, List<PlannedArgument> args,
        List<(PlannedDerived Derived, string Key, EquatableArray<string> SettingKeys)> derived, List<string> needs, Locals names, LossSettingsBuilder settings)
    {
        var sharedArgs = new List<PlannedArgument>();
        var locals = new List<string>();
        foreach (var p in shared.Parameters)
        {
            if (p.Quantity is null)
            {
                // the loss's own argument, as the plain call passes it (absent: the method's default)
                if (args.FirstOrDefault(a => a.Name == p.Name) is { } own) sharedArgs.Add(own);
                continue;
            }
            // a quantity of one tensor: not of a list input
            if (p.Of is null || loss.Inputs.FirstOrDefault(i => i.Name == p.Of) is not { IsList: false } || args.FirstOrDefault(a => a.Name == p.Of) is not { Kind: ArgumentKind.Local } of) return null;
            var values = new List<PlannedArgument>();
            var declared = new List<string>();
            var keys = new List<string>();
            for (var i = 0; i < p.QuantityParameters.Count; i++)
            {
                var qp = p.QuantityParameters[i];
                if (i < p.With.Count && args.FirstOrDefault(a => a.Name == p.With[i]) is { Kind: ArgumentKind.Setting } setting)
                {
                    var s = settings.Find(setting.Values[0]);
                    // the setting's type may differ from the quantity's parameter (a float hyper-parameter into a double)
                    values.Add(new PlannedArgument(qp.Name, ArgumentKind.Setting, setting.Values));
                    declared.Add("s" + s.Literal);
                    keys.Add(s.Key);
                }
                else if (i < p.With.Count && args.FirstOrDefault(a => a.Name == p.With[i]) is { Kind: ArgumentKind.Literal } literal)
                {
                    values.Add(new PlannedArgument(qp.Name, ArgumentKind.Literal, literal.Values));
                    declared.Add("c" + literal.Values[0]);
                }
                else if (qp.HasDefault && qp.DefaultText is { } fixedValue)
                {
                    values.Add(new PlannedArgument(qp.Name, ArgumentKind.Literal, new[] { fixedValue }.ToEquatableArray()));
                    declared.Add("c" + fixedValue);
                }
                else return null;
            }
            var source = of.Values[0];
            var key = $"{shared.ContainingType}.{p.Quantity}({source}|{string.Join("|", declared)})";
            var index = derived.FindIndex(d => d.Key == key);
            if (index < 0)
            {
                var suffix = string.Concat(declared.Select(v => "_" + new string(v.Substring(1).TrimEnd('f', 'L').Replace(".0", "").Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray())));
                var call = new PlannedCall(shared.ContainingType, p.Quantity, new[] { new PlannedArgument("", ArgumentKind.Local, new[] { source }.ToEquatableArray()) }.Concat(values).ToEquatableArray());
                derived.Add((new PlannedDerived(names.Take($"{source.TrimStart('@')}_{p.Quantity}{suffix}"), call, source), key, keys.ToEquatableArray()));
                index = derived.Count - 1;
            }
            else settings.Tie(derived[index].SettingKeys, keys);
            sharedArgs.Add(new PlannedArgument(p.Name, ArgumentKind.Local, new[] { derived[index].Derived.Local }.ToEquatableArray()));
            locals.Add(derived[index].Derived.Local);
        }
        needs.AddRange(locals.Distinct());
        return new PlannedCall(shared.ContainingType, shared.Method, sharedArgs.ToEquatableArray());
    }

    private static PlannedArgument LocalArgument(string name, string local) => new(name, ArgumentKind.Local, new[] { local }.ToEquatableArray());

    /// <summary>A value as the term's formula (a comment of the generated code) shows it: on one line, invisible characters escaped.</summary>
    private static string Show(ValueSpec v) => v.Kind == ValueKind.List ? "[" + string.Join(", ", v.Items.Select(Show)) + "]" : UserText.Comment(v.Text);

    /// <summary>
    /// The locals of one method: each name asked for becomes an identifier (<see cref="CSharpNames.Local"/>) not yet taken and not
    /// reserved (a name the method uses otherwise), with a suffix <c>_2</c>, <c>_3</c>, ... only when it would collide.
    /// </summary>
    internal sealed class Locals
    {
        private readonly HashSet<string> _taken;

        public Locals(IEnumerable<string> reserved) => _taken = new HashSet<string>(reserved, StringComparer.Ordinal);

        public string Take(string name)
        {
            var id = CSharpNames.Local(name);
            if (_taken.Add(id)) return id;
            for (var i = 2; ; i++)
                if (_taken.Add(id + "_" + i.ToString(CultureInfo.InvariantCulture))) return id + "_" + i.ToString(CultureInfo.InvariantCulture);
        }
    }

}
