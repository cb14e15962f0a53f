namespace Distill.Torch;

/// <summary>
/// Frees every tensor created on this thread while the scope is the innermost one, unless the tensor
/// was moved out (<see cref="MoveToOuter"/>, <see cref="Tensor.MoveToOuterDisposeScope"/>) or detached
/// from scopes (<see cref="Tensor.DetachFromDisposeScope"/>). Scopes nest; create them with
/// <c>torch.NewDisposeScope()</c> in a <c>using</c>.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? t_current;

    private readonly List<Tensor> _tensors = new();
    private bool _disposed;

    internal DisposeScope()
    {
        Parent = t_current;
        t_current = this;
    }

    /// <summary>The innermost scope on this thread, or null.</summary>
    public static DisposeScope? Current => t_current;

    public DisposeScope? Parent { get; }

    /// <summary>Tensors this scope will free (those still attached to it).</summary>
    public int Count
    {
        get
        {
            var n = 0;
            foreach (var t in _tensors) if (t.OwningScope == this && !t.IsDisposed) n++;
            return n;
        }
    }

    internal static void Register(Tensor tensor)
    {
        var scope = t_current;
        if (scope is null) return;
        tensor.OwningScope = scope;
        scope._tensors.Add(tensor);
    }

    internal void Attach(Tensor tensor)
    {
        tensor.OwningScope = this;
        _tensors.Add(tensor);
    }

    /// <summary>Moves a tensor to the enclosing scope (or to no scope), so this one will not free it.</summary>
    public T MoveToOuter<T>(T tensor) where T : Tensor
    {
        if (tensor.OwningScope != this) return tensor;
        tensor.OwningScope = null;
        Parent?.Attach(tensor);
        return tensor;
    }

    /// <summary>Moves several tensors to the enclosing scope.</summary>
    public void MoveToOuter(IEnumerable<Tensor> tensors)
    {
        foreach (var t in tensors) MoveToOuter(t);
    }

    /// <summary>Frees everything registered so far but keeps the scope open (for loops).</summary>
    public void DisposeEverything()
    {
        foreach (var t in _tensors)
            if (t.OwningScope == this) t.Dispose();
        _tensors.Clear();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeEverything();
        // Scopes are strictly nested per thread; restore the parent even if an inner one leaked.
        if (t_current == this) t_current = Parent;
    }
}
