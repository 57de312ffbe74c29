// The assistant sidebar end to end, against the shared `easel serve`, started with
// `--llm SmolLM2-135M-Instruct.Q4_1.gguf` when the binary takes --llm and the model is there
// (see easel_server.ts; CI fetches it with tools/fetch_smollm2.sh). "Fill the form" makes the
// model call set_generation_params first (tool_choice): the built-in runtime decodes that
// call as schema-constrained JSON, so even the 135M model gives arguments that parse. The
// message names values that differ from the form's (SmolLM2 copies numbers it is given):
// the test needs the tool-call card, the form-parameters card, and each field the card
// names (at least one of them) changed in the form.
// Without a model it checks the sidebar's "how to configure" message instead.
// No images are made here (studio.spec.ts counts the gallery).
import { expect, test } from '@playwright/test';
import { base, guardConsole, shot } from './helpers';

guardConsole();

test('assistant sidebar: a tool call fills the generation form', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto(base());
  await page.getByLabel('Prompt', { exact: true }).fill('placeholder prompt');
  await page.getByTestId('steps').fill('33');
  await page.getByTestId('height').fill('256');
  await page.getByTestId('cfg').fill('3');
  await page.keyboard.press('Alt+a');
  const side = page.getByRole('complementary', { name: 'Assistant' });
  await expect(side).toBeVisible();
  await expect(page.getByTestId('assistant-toggle')).toHaveAttribute('aria-expanded', 'true');
  const input = side.getByLabel('Message the assistant');
  // Keyboard users land in the sidebar: the message box, or the close button while unusable.
  await expect(side.locator(':focus')).toHaveCount(1);

  if (!process.env.EASEL_E2E_LLM_MODEL) {
    await expect(side.getByTestId('assistant-setup')).toContainText('easel serve --llm PATH');
    await expect(input).toBeDisabled();
    await shot(page, 'assistant-setup');
    test.info().annotations.push({ type: 'note', description: 'no --llm model: checked the setup message only' });
    return;
  }

  await expect(input).toBeEnabled({ timeout: 30_000 });
  await expect(input).toBeFocused();
  const message = 'Set the prompt to: a watercolor lighthouse at dusk. Width 512, height 512, 20 steps, cfg 7.';
  await input.fill(message);
  await side.getByRole('button', { name: 'Fill the form' }).click();
  await expect(side.locator('.chat-msg.user')).toHaveText(`You: ${message}`);
  const card = side.getByTestId('tool-card').filter({ hasText: 'set_generation_params' }).first();
  await expect(card).toBeVisible({ timeout: 180_000 });
  const params = side.getByTestId('params-card').first();
  await expect(params).toBeVisible({ timeout: 60_000 });
  const filled = (await params.innerText()).replace(/^[\s\S]*Filled in Generate: /, '').split('\n')[0];
  expect(filled, 'set_params changed no field').not.toContain('nothing new');
  // Every field the card names changed in the form, and at least one of these was named.
  const checks: [string, () => Promise<void>][] = [
    ['prompt', () => expect(page.getByLabel('Prompt', { exact: true })).not.toHaveValue('placeholder prompt')],
    ['steps', () => expect(page.getByTestId('steps')).not.toHaveValue('33')],
    ['height', () => expect(page.getByTestId('height')).not.toHaveValue('256')],
    ['CFG scale', () => expect(page.getByTestId('cfg')).not.toHaveValue('3')],
  ];
  const named = checks.filter(([k]) => filled.split(', ').some((f) => f === k));
  expect(named.length, `the card named none of prompt, steps, height, CFG scale: "${filled}"`).toBeGreaterThan(0);
  for (const [, check] of named) await check();
  // The turn ends (the model answers in text, or stops at its budget): input enabled again.
  await expect(side.getByRole('button', { name: 'Send' })).toBeVisible({ timeout: 180_000 });
  await card.getByText('Arguments').click();
  await shot(page, 'assistant');

  // The session was stored: it is in the list, and reloading shows the same tool card.
  await page.reload();
  const side2 = page.getByRole('complementary', { name: 'Assistant' });
  await expect(side2).toBeVisible(); // remembered open
  await expect(side2.getByLabel('Chat session')).not.toHaveValue('');
  await expect(side2.getByTestId('tool-card').filter({ hasText: 'set_generation_params' }).first()).toBeVisible();

  await page.getByRole('button', { name: /Switch to light theme/ }).click();
  await shot(page, 'assistant-light');
  await page.keyboard.press('Alt+a');
  await expect(side2).toBeHidden();
});
