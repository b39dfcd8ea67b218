namespace Mlx;

/// <summary>
/// Disposes, when it ends, every array created on this thread while it was the innermost scope, except those moved
/// out or detached: a training step or inference loop opens one per iteration and frees its intermediates as soon
/// as nothing needs them, as Python's reference counting does for MLX (TorchSharp's <c>NewDisposeScope</c> is the
/// .NET precedent). Disposing only drops the scope's claim: an array that a pending computation or a view still
/// uses keeps its memory until that is done. Arrays stored as module parameters or optimizer state are detached
/// automatically.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic]
    private static DisposeScope? t_innermost;

    // Above zero while arrays are made that must outlive any caller's scope (a compiled trace and its constants)
    // or that nobody can hold (a kernel's scratch arrays during evaluation).
    [ThreadStatic]
    private static int t_suspended;

    private readonly List<MxArray> _arrays = new();
    private readonly DisposeScope? _outer;
    private bool _disposed;

    internal DisposeScope()
    {
        _outer = t_innermost;
        t_innermost = this;
    }

    /// <summary>The arrays this scope will dispose.</summary>
    public int Count => _arrays.Count(a => ReferenceEquals(a.Scope, this));

    /// <summary>The scope new arrays join, or null.</summary>
    internal static DisposeScope? Current => t_suspended == 0 ? t_innermost : null;

    internal static void Register(MxArray array)
    {
        if (Current is { } scope)
        {
            array.Scope = scope;
            scope._arrays.Add(array);
        }
    }

    /// <summary>Hands <paramref name="arrays"/> to the enclosing scope (or to no scope): they outlive this one.</summary>
    public void MoveToOuter(params MxArray[] arrays) => MoveToOuter((IEnumerable<MxArray>)arrays);

    public void MoveToOuter(IEnumerable<MxArray> arrays)
    {
        foreach (var a in arrays)
        {
            if (!ReferenceEquals(a.Scope, this)) continue;
            a.Scope = null;
            if (_outer is not null)
            {
                a.Scope = _outer;
                _outer._arrays.Add(a);
            }
        }
    }

    /// <summary>Takes <paramref name="array"/> out of whatever scope holds it: only its own <see cref="MxArray.Dispose"/> or the GC frees it.</summary>
    public static void Detach(MxArray array) => array.Scope = null;

    public static void Detach(IEnumerable<MxArray> arrays)
    {
        foreach (var a in arrays) a.Scope = null;
    }

    /// <summary>Until the result is disposed, no scope on this thread collects the arrays made.</summary>
    internal static Suspension Suspend()
    {
        t_suspended++;
        return new Suspension();
    }

    internal readonly struct Suspension : IDisposable
    {
        public void Dispose() => t_suspended--;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!ReferenceEquals(t_innermost, this))
        {
            throw new InvalidOperationException("Dispose scopes must end in the reverse order of their start, on the thread that started them.");
        }
        t_innermost = _outer;
        foreach (var a in _arrays)
        {
            if (ReferenceEquals(a.Scope, this))
            {
                a.Scope = null;
                a.Dispose();
            }
        }
        _arrays.Clear();
    }
}
