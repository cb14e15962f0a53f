using System;
using System.Collections.Generic;
using System.Globalization;

namespace Distill.Generators.Binding;

/// <summary>
/// Symbolic shapes of taps, loss inputs and batch fields: a comma-separated list of integer expressions
/// over names (constructor parameters, input symbols), with + - * / (integer division) and parentheses;
/// <c>*</c> is any single dim and <c>...</c> any number of leading dims.
/// </summary>
internal static class ShapeExpression
{
    public static string[] Dims(string shape) =>
        shape.Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries) is var parts
            ? Array.ConvertAll(parts, p => p.Trim())
            : Array.Empty<string>();

    /// <summary>Evaluates one dim; null when it uses a name the environment does not know (or is a wildcard).</summary>
    public static long? Evaluate(string expression, IReadOnlyDictionary<string, long> environment)
    {
        if (expression == "*" || expression == "...") return null;
        var p = new Parser(expression, environment);
        try
        {
            var value = p.Sum();
            return p.AtEnd ? value : null;
        }
        catch (UnknownName)
        {
            return null;
        }
        catch (DivideByZeroException)
        {
            return null;
        }
    }

    /// <summary>Evaluates every dim of a shape.</summary>
    public static long?[] EvaluateAll(string shape, IReadOnlyDictionary<string, long> environment)
    {
        var dims = Dims(shape);
        var values = new long?[dims.Length];
        for (var i = 0; i < dims.Length; i++) values[i] = Evaluate(dims[i], environment);
        return values;
    }

    public static string Format(long?[] dims) =>
        "[" + string.Join(", ", Array.ConvertAll(dims, d => d?.ToString(CultureInfo.InvariantCulture) ?? "?")) + "]";

    private sealed class UnknownName : Exception { }

    private sealed class Parser
    {
        private readonly string _text;
        private readonly IReadOnlyDictionary<string, long> _env;
        private int _pos;

        public Parser(string text, IReadOnlyDictionary<string, long> env)
        {
            _text = text;
            _env = env;
        }

        public bool AtEnd
        {
            get
            {
                SkipSpace();
                return _pos >= _text.Length;
            }
        }

        public long Sum()
        {
            var value = Product();
            while (true)
            {
                SkipSpace();
                if (Peek('+')) { _pos++; value += Product(); }
                else if (Peek('-')) { _pos++; value -= Product(); }
                else return value;
            }
        }

        private long Product()
        {
            var value = Atom();
            while (true)
            {
                SkipSpace();
                if (Peek('*')) { _pos++; value *= Atom(); }
                else if (Peek('/')) { _pos++; value = FloorDiv(value, Atom()); }
                else return value;
            }
        }

        private static long FloorDiv(long a, long b)
        {
            if (b == 0) throw new DivideByZeroException();
            var q = a / b;
            return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
        }

        private long Atom()
        {
            SkipSpace();
            if (Peek('('))
            {
                _pos++;
                var v = Sum();
                SkipSpace();
                if (!Peek(')')) throw new UnknownName();
                _pos++;
                return v;
            }
            if (Peek('-')) { _pos++; return -Atom(); }
            var start = _pos;
            if (_pos < _text.Length && char.IsDigit(_text[_pos]))
            {
                while (_pos < _text.Length && char.IsDigit(_text[_pos])) _pos++;
                return long.Parse(_text.Substring(start, _pos - start), CultureInfo.InvariantCulture);
            }
            while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
            if (_pos == start) throw new UnknownName();
            var name = _text.Substring(start, _pos - start);
            return _env.TryGetValue(name, out var value) ? value : throw new UnknownName();
        }

        private bool Peek(char c) => _pos < _text.Length && _text[_pos] == c;

        private void SkipSpace()
        {
            while (_pos < _text.Length && _text[_pos] == ' ') _pos++;
        }
    }
}
