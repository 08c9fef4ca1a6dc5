/** The one way a view says what went wrong: an alert paragraph, or nothing when all is well. */
export function ErrorNote({ message }: { message: string | undefined }) {
  if (message === undefined) return null;
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}
